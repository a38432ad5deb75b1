"""Class-name word vectors: normalisation, OOV reporting, class maps, file formats, clear errors."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from hfnet.builtin_datasets import FASHION_MNIST_CLASSES
from hfnet.errors import HfnetError
from hfnet.ranking.word_vectors import (
    class_distances,
    class_vectors,
    load_class_map,
    load_word_vectors,
)


@pytest.fixture(scope="module")
def glove():
    return load_word_vectors()


def test_default_vectors_are_the_offline_glove(glove):
    assert glove.vector_size == 50
    assert len(glove) == 400_000
    assert glove.most_similar("dog", topn=5)[0][0] in {"dogs", "cat", "puppy", "pet"}


def test_name_normalisation(glove):
    cv = class_vectors(
        ["T-shirt/top", "Ankle boot", "tench, Tinca tinca", "Ice_Cream", "7", "carpenter's kit, tool kit"], glove
    )
    assert cv.words == [["t-shirt"], ["ankle", "boot"], ["tench"], ["ice", "cream"], ["seven"], ["carpenter", "kit"]]
    assert cv.oov == {}
    np.testing.assert_allclose(cv.vectors[1], glove["ankle"] + glove["boot"], rtol=1e-6)


def test_digit_names_match_spelled_numbers(glove):
    d = class_distances(class_vectors(["zero", "one"], glove), class_vectors(["0", "1"], glove))
    np.testing.assert_allclose(np.diag(d), 0.0)
    assert d[0, 1] > 0


def test_mean_combination_divides_by_word_count(glove):
    summed = class_vectors(["ankle boot"], glove).vectors[0]
    mean = class_vectors(["ankle boot"], glove, combine="mean").vectors[0]
    np.testing.assert_allclose(summed, 2 * mean)
    with pytest.raises(HfnetError, match="combine"):
        class_vectors(["dog"], glove, combine="max")


def test_oov_words_are_reported_and_dropped(glove, caplog):
    caplog.set_level(logging.WARNING, logger="hfnet.ranking")
    cv = class_vectors(["zorblaxian cat", "dog"], glove)
    assert cv.oov == {"zorblaxian cat": ["zorblaxian"]}
    assert cv.words[0] == ["cat"]
    assert "zorblaxian" in caplog.text


def test_later_synonym_used_when_the_first_is_unknown(glove):
    cv = class_vectors(["qwzxv, small dog"], glove)
    assert cv.words == [["small", "dog"]]
    assert cv.oov == {"qwzxv, small dog": ["qwzxv"]}


def test_imagenet_names_all_resolve_with_fallback_hypernyms(glove):
    from timm.data import ImageNetInfo

    names = ImageNetInfo("imagenet-1k").label_descriptions(as_dict=False)
    cv = class_vectors(names, glove)
    assert cv.vectors.shape == (1000, 50)
    assert cv.words[names.index("kuvasz")] == ["sheepdog"]
    assert "kuvasz" in cv.oov


def test_a_class_with_no_known_word_is_a_clear_error(glove):
    with pytest.raises(HfnetError, match=r"no word vector for class\(es\) 'qwzxv'.*--class-map"):
        class_vectors(["dog", "qwzxv"], glove)


def test_class_map_json_and_tsv(glove, tmp_path):
    as_json = tmp_path / "map.json"
    as_json.write_text(json.dumps({"qwzxv": "small dog", "T-shirt/top": "shirt"}))
    as_tsv = tmp_path / "map.tsv"
    as_tsv.write_text("# comment\nqwzxv\tsmall dog\n")
    for path in (as_json, as_tsv):
        mapping = load_class_map(path)
        cv = class_vectors(["qwzxv", "T-shirt/top"], glove, class_map=mapping)
        assert cv.words[0] == ["small", "dog"]
    assert class_vectors(["T-shirt/top"], glove, class_map=load_class_map(as_json)).words == [["shirt"]]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"dog": "qwzxv"}))
    with pytest.raises(HfnetError, match="not in the word vectors"):
        class_vectors(["dog"], glove, class_map=load_class_map(bad))
    with pytest.raises(HfnetError, match="no such class-map"):
        load_class_map(tmp_path / "missing.json")


def test_fashion_mnist_classes_all_resolve(glove):
    cv = class_vectors(FASHION_MNIST_CLASSES, glove)
    assert cv.oov == {}
    d = class_distances(cv, cv)
    np.testing.assert_allclose(np.diag(d), 0.0, atol=1e-6)
    assert d.shape == (10, 10) and (d + np.eye(10) > 0).all()


def test_local_vector_files(tmp_path):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vector_size=3)
    kv.add_vectors(["cat", "dog", "car"], np.array([[1.0, 0, 0], [0.9, 0.1, 0], [0, 0, 1.0]], dtype=np.float32))
    kv.save(str(tmp_path / "tiny.kv"))
    kv.save_word2vec_format(str(tmp_path / "tiny.txt"))
    (tmp_path / "glove.txt").write_text("cat 1 0 0\ndog 0.9 0.1 0\n")
    for name in ("tiny.kv", "tiny.txt", "glove.txt"):
        loaded = load_word_vectors(tmp_path / name)
        np.testing.assert_allclose(loaded["dog"], [0.9, 0.1, 0], rtol=1e-5)
    with pytest.raises(HfnetError, match="no such word-vector file"):
        load_word_vectors("./missing.kv")
    (tmp_path / "junk.bin").write_bytes(b"\x00\x01junk")
    with pytest.raises(HfnetError, match="cannot read word vectors"):
        load_word_vectors(tmp_path / "junk.bin")
