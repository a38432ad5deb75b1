"""Fine-tuning with the HF ``Trainer``: the same code on one CPU or many GPUs through Accelerate."""

from __future__ import annotations

import logging
from typing import Any

from hfnet.data import collate_fn, is_transformed, with_model_transform
from hfnet.errors import HfnetError

logger = logging.getLogger(__name__)


def default_training_arguments(
    output_dir: str,
    *,
    epochs: float = 1.0,
    max_steps: int = -1,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    seed: int = 0,
    **overrides: Any,
):
    """``TrainingArguments`` for hfnet's small CPU-friendly runs: no checkpoints, no reporters, keep all columns."""
    from transformers import TrainingArguments

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
        report_to=[],
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
    """Fine-tune a :class:`hfnet.HubClassifier` with the HF ``Trainer`` and return the trainer.

    Datasets may be raw (``image``/``label``) or already transformed (``pixel_values``/``labels``). Pass ``args``
    (a ``TrainingArguments``) to take full control; otherwise hfnet's defaults are used with the given overrides.
    """
    from transformers import Trainer, set_seed

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
    set_seed(args.seed)
    train_ds, eval_ds = prepare_datasets(classifier, train_dataset, eval_dataset)
    if len(train_ds) == 0:
        raise HfnetError("the training split is empty")
    trainer = Trainer(
        model=classifier,
        args=args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        data_collator=collate_fn,
        callbacks=callbacks,
    )
    trainer.train()
    classifier.eval()
    return trainer
