"""The tail every checkpoint-producing job shares: evaluate -> card -> save atomically -> push.

A job builds its model (prune, structured prune, merge, distill, compress, finetune), then calls :func:`finish` once
with a :class:`SaveOptions` (validated where it was built) and a card function of the measured metrics. Only the main
process evaluates, writes and pushes; every process waits for it, so a distributed run ends together.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accelerate import PartialState

from hfnet._io import atomic_dir, check_output_dir
from hfnet._plots import plot_training_curves
from hfnet.cards import ModelCardInfo
from hfnet.classifier import write_card
from hfnet.errors import HfnetError
from hfnet.evaluation import evaluate_classifier
from hfnet.hub import push_result

__all__ = ["Finished", "SaveOptions", "finish"]

_REPO_ID = re.compile(r"[\w.\-]+/[\w.\-]+")


@dataclass(frozen=True)
class SaveOptions:
    """Where a job's checkpoint goes and whether it is pushed; checked once, where it is built.

    Args:
        output_dir: the result folder (``None``: nothing is saved; only the metrics come back).
        overwrite: write into a folder holding other files, replacing only the files hfnet writes.
        push_to_hub: upload the saved folder to ``hub_model_id`` once it is saved locally.
        hub_model_id: the Hub repo, ``OWNER/NAME``.
        private: create the Hub repo as private.
    """

    output_dir: str | None = None
    overwrite: bool = False
    push_to_hub: bool = False
    hub_model_id: str | None = None
    private: bool = False

    def __post_init__(self) -> None:
        if self.output_dir is not None and not str(self.output_dir).strip():
            raise HfnetError("the output folder is empty: name a folder for the result (--output-dir DIR)")
        if self.push_to_hub and self.output_dir is None:
            raise HfnetError("push_to_hub needs an output folder: the checkpoint is saved locally first, then pushed")
        if self.push_to_hub and not self.hub_model_id:
            raise HfnetError("--push-to-hub needs --hub-model-id OWNER/NAME")
        if self.hub_model_id is not None and not _REPO_ID.fullmatch(self.hub_model_id):
            raise HfnetError(f"--hub-model-id must look like OWNER/NAME, got {self.hub_model_id!r}")

    def check(self) -> Path | None:
        """Apply the output-folder rule now (before any model or dataset is loaded); the resolved folder."""
        return None if self.output_dir is None else check_output_dir(self.output_dir, overwrite=self.overwrite)


@dataclass
class Finished:
    """What the tail produced: the measured metrics, the saved folder and the Hub URL (main process only)."""

    metrics: dict[str, float] = field(default_factory=dict)
    output_dir: Path | None = None
    hub_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.metrics)
        if self.output_dir is not None:
            out["output_dir"] = str(self.output_dir)
        if self.hub_url:
            out["hub_url"] = self.hub_url
        return out


def finish(
    classifier,
    save: SaveOptions,
    card: Callable[[Mapping[str, float]], ModelCardInfo],
    *,
    eval_dataset=None,
    log_history: list[dict[str, Any]] | None = None,
    progress: bool = False,
    write: Callable[[Path], Any] | None = None,
) -> Finished:
    """Evaluate ``classifier`` on ``eval_dataset``, render ``card(metrics)``, save atomically, push.

    The fine-tuning losses in ``log_history`` become ``training_curves.png``, saved beside the weights and embedded in
    the card. A failed save leaves the output folder as it was; a failed push keeps the local result and raises a
    one-line :class:`HfnetError` that says how to retry.

    ``write(folder)``, for jobs that stream their checkpoint to disk rather than hold it in memory (merge): it writes
    the weights and config into the (temporary) result folder in place of ``classifier.save_pretrained`` and returns
    the model as written, or None; that model is evaluated, then the card is written beside it. ``classifier`` then
    only gives the library and license of the card.
    """
    state = PartialState()
    done = Finished()
    if state.is_main_process and write is not None:
        _finish_written(done, classifier, save, card, write, eval_dataset, progress)
    elif state.is_main_process:
        if eval_dataset is not None:
            done.metrics = evaluate_classifier(classifier, eval_dataset, progress=progress)
        if save.output_dir is not None:
            info = card(done.metrics)
            with tempfile.TemporaryDirectory(prefix="hfnet-plots-") as tmp:
                curves = plot_training_curves(log_history or [], Path(tmp) / "training_curves.png")
                if curves is not None:
                    info.plots = [*info.plots, str(curves)]
                done.output_dir = classifier.save_pretrained(save.output_dir, card=info, overwrite=save.overwrite)
            done.hub_url = push_result(
                done.output_dir, push=save.push_to_hub, hub_model_id=save.hub_model_id, private=save.private
            )
    state.wait_for_everyone()
    return done


def _finish_written(done: Finished, classifier, save: SaveOptions, card, write, eval_dataset, progress: bool) -> None:
    """The tail for a checkpoint that ``write`` puts on disk: write, evaluate what was written, card, push."""
    target = save.check()
    if target is None:
        raise HfnetError("this job writes its checkpoint to disk: name the folder (--output-dir DIR)")
    with atomic_dir(target, overwrite=save.overwrite) as tmp:
        written = write(tmp)
        if eval_dataset is not None:
            done.metrics = evaluate_classifier(written, eval_dataset, progress=progress)
        info = card(done.metrics)
        write_card(tmp, info, library=classifier.library, folder_name=target.name, license=classifier.license)
    done.output_dir = target
    done.hub_url = push_result(target, push=save.push_to_hub, hub_model_id=save.hub_model_id, private=save.private)
