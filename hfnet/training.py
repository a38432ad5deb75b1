"""Fine-tuning with the HF ``Trainer``: the same code on one CPU or many GPUs through Accelerate."""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from pathlib import Path
from typing import Any

from transformers import Trainer, TrainingArguments, set_seed
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from hfnet.data import collate_fn, is_transformed
from hfnet.errors import HfnetError
from hfnet.preprocessing import with_model_transform

logger = logging.getLogger(__name__)


def default_training_arguments(
    output_dir: str,
    *,
    epochs: float = 1.0,
    max_steps: int = -1,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    seed: int = 0,
    report_to: str | list[str] = "none",
    **overrides: Any,
):
    """``TrainingArguments`` for hfnet's small CPU-friendly runs: no checkpoints, keep all columns.

    Args:
        report_to: where the Trainer logs (``"none"``, ``"tensorboard"``, ``"wandb"``, ``"all"``, or a list), as in
            ``TrainingArguments.report_to``; default none.
    """
    if epochs <= 0 and max_steps <= 0:
        raise HfnetError("training needs --epochs > 0 or --max-steps > 0")
    kwargs: dict[str, Any] = dict(
        output_dir=output_dir,
        num_train_epochs=epochs,
        max_steps=max_steps,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=max(batch_size, 64),
        learning_rate=learning_rate,
        seed=seed,
        data_seed=seed,
        save_strategy="no",
        eval_strategy="no",
        report_to=report_to,
        logging_steps=10,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
        weight_decay=0.0,
        lr_scheduler_type="linear",
        disable_tqdm=False,
    )
    kwargs.update(overrides)
    return TrainingArguments(**kwargs)


def missing_dirs(path: str | os.PathLike) -> list[Path]:
    """``path`` and its ancestors that do not exist yet (deepest first)."""
    out = []
    p = Path(path).expanduser().absolute()
    while not p.exists() and p != p.parent:
        out.append(p)
        p = p.parent
    return out


def remove_empty_dirs(created: list[Path]) -> None:
    """Remove the folders of ``created`` (made by this run, deepest first) that are still empty."""
    for d in created:
        try:
            d.rmdir()  # only succeeds on an empty folder: nothing anyone wrote is removed
        except OSError:
            break


class StderrProgressCallback(ProgressCallback):
    """The Trainer's progress bar, with its log lines on stderr (``ProgressCallback`` writes them to stdout)."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        bar = self.training_bar
        if bar is None:
            return super().on_log(args, state, control, logs=logs, **kwargs)
        write = bar.write
        bar.write = lambda text, file=None, end="\n", nolock=False: write(
            text, file=sys.stderr, end=end, nolock=nolock
        )
        try:
            return super().on_log(args, state, control, logs=logs, **kwargs)
        finally:
            del bar.write


def quiet_when_no_progress(trainer) -> None:
    """Keep the Trainer's log lines out of stdout, where hfnet's front ends print their result tables.

    With ``disable_tqdm`` the Trainer prints every log dict (removed); with a progress bar it writes them through the
    bar to stdout (sent to stderr instead). The logs stay in ``trainer.state.log_history`` and still reach
    ``report_to`` integrations.
    """
    if trainer.args.disable_tqdm:
        trainer.remove_callback(PrinterCallback)
    elif any(isinstance(cb, ProgressCallback) for cb in trainer.callback_handler.callbacks):
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(StderrProgressCallback)


def prepare_datasets(classifier, *datasets_, train_augment: bool = False) -> list:
    """Attach the classifier's preprocessing to raw datasets (already transformed ones pass through)."""
    out = []
    for i, ds in enumerate(datasets_):
        if ds is None or is_transformed(ds):
            out.append(ds)
        else:
            out.append(with_model_transform(ds, classifier.preprocessing, train=train_augment and i == 0))
    return out


def train_classifier(
    classifier,
    train_dataset,
    *,
    output_dir: str,
    epochs: float = 1.0,
    max_steps: int = -1,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    seed: int = 0,
    callbacks: list | None = None,
    eval_dataset=None,
    args=None,
    **training_args: Any,
):
    """Fine-tune a :class:`hfnet.HubClassifier` with the HF ``Trainer`` and return the trainer (model in eval mode).

    Datasets may be raw (``image``/``label``) or already transformed (``pixel_values``/``labels``). Pass ``args``
    (a ``TrainingArguments``) to take full control; otherwise hfnet's defaults are used with the given overrides
    (``report_to="tensorboard"`` and the like included). The Trainer never pushes (hfnet saves and pushes Hub format
    itself), and run folders it created but left empty are removed.
    """
    if args is None:
        args = default_training_arguments(
            output_dir,
            epochs=epochs,
            max_steps=max_steps,
            batch_size=batch_size,
            learning_rate=learning_rate,
            seed=seed,
            **training_args,
        )
    if getattr(args, "push_to_hub", False):
        # the Trainer would push the wrapper's state dict; hfnet pushes the saved Hub-format folder instead
        args = dataclasses.replace(args, push_to_hub=False)
    created = missing_dirs(args.output_dir) if args.output_dir else []
    set_seed(args.seed)
    train_ds, eval_ds = prepare_datasets(classifier, train_dataset, eval_dataset)
    if len(train_ds) == 0:
        raise HfnetError("the training split is empty")
    trainer = _make_trainer(classifier, args, train_ds, eval_ds, callbacks, created)
    try:
        trainer.train()
    finally:
        remove_empty_dirs(created)
    classifier.eval()
    return trainer


def _make_trainer(classifier, args, train_ds, eval_ds, callbacks, created: list) -> Trainer:
    """The ``Trainer``; a ``report_to`` integration that is not installed becomes an :class:`HfnetError` (and the run
    folders made for it are removed)."""
    try:
        trainer = Trainer(
            model=classifier,
            args=args,
            train_dataset=train_ds,
            eval_dataset=eval_ds,
            data_collator=collate_fn,
            callbacks=callbacks,
        )
        quiet_when_no_progress(trainer)
    except (ImportError, RuntimeError) as e:
        remove_empty_dirs(created)
        if "requires" not in str(e) and "install" not in str(e):
            raise
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise HfnetError(f"report_to={args.report_to!r} cannot be used: {first}") from e
    return trainer
