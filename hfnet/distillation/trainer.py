"""``DistillationTrainer``: a HF ``Trainer`` whose loss is knowledge distillation from a frozen teacher.

KD (Hinton et al. 2015) and merit-based per-sample weights (seed 004) run through
:meth:`DistillationTrainer.compute_loss`; the math is in :mod:`hfnet.distillation.losses`. The FitNets hint stage
(Romero et al. 2014) is a subclass in :mod:`hfnet.distillation.hint`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import Trainer

from hfnet.classifier import HubClassifier
from hfnet.distillation.config import DistillationConfig
from hfnet.distillation.losses import kd_loss_terms, merit_weights
from hfnet.errors import HfnetError
from hfnet.preprocessing import Preprocessing
from hfnet.training import quiet_when_no_progress

logger = logging.getLogger(__name__)

__all__ = ["DistillationTrainer", "check_same_classes", "convert_pixels", "same_preprocessing"]


def check_same_classes(student: HubClassifier, teacher: HubClassifier) -> None:
    """Teacher and student must predict the same classes in the same order (the soft targets are per class)."""
    if student.num_classes != teacher.num_classes:
        raise HfnetError(
            f"teacher predicts {teacher.num_classes} classes but the student {student.num_classes}; "
            "give the student the teacher's label set (HubClassifier.replace_head(teacher.class_names))"
        )
    s, t = student.class_names, teacher.class_names
    if s is not None and t is not None and list(s) != list(t):
        diff = [f"{i}: {a!r} vs {b!r}" for i, (a, b) in enumerate(zip(t, s)) if a != b][:5]
        raise HfnetError(
            "teacher and student have different label sets (teacher vs student: "
            + "; ".join(diff)
            + "); give the student the teacher's classes in the same order (replace_head(teacher.class_names))"
        )


def same_preprocessing(a: Preprocessing, b: Preprocessing) -> bool:
    """Whether pixels prepared for ``a`` can be fed to a model expecting ``b`` unchanged."""
    return (
        tuple(a.image_size) == tuple(b.image_size)
        and tuple(map(float, a.mean)) == tuple(map(float, b.mean))
        and tuple(map(float, a.std)) == tuple(map(float, b.std))
    )


def convert_pixels(pixel_values: Tensor, source: Preprocessing, target: Preprocessing) -> Tensor:
    """Re-express pixels normalised for ``source`` in ``target``'s resolution and normalisation.

    Undo ``source``'s mean/std, resize (antialiased when shrinking), apply ``target``'s mean/std. Used when the
    dataset yields only the student's pixels; a dataset that yields ``teacher_pixel_values`` from the raw image
    avoids the extra resampling.
    """
    if same_preprocessing(source, target):
        return pixel_values
    dev, dt = pixel_values.device, pixel_values.dtype
    s_mean = torch.tensor(source.mean, device=dev, dtype=dt).view(1, -1, 1, 1)
    s_std = torch.tensor(source.std, device=dev, dtype=dt).view(1, -1, 1, 1)
    t_mean = torch.tensor(target.mean, device=dev, dtype=dt).view(1, -1, 1, 1)
    t_std = torch.tensor(target.std, device=dev, dtype=dt).view(1, -1, 1, 1)
    x = pixel_values * s_std + s_mean
    size = tuple(target.image_size)
    if tuple(x.shape[-2:]) != size:
        mode = "bicubic" if target.interpolation == "bicubic" else "bilinear"
        shrink = x.shape[-2] > size[0] or x.shape[-1] > size[1]
        x = F.interpolate(x, size=size, mode=mode, align_corners=False, antialias=shrink)
    return (x - t_mean) / t_std


def _classifier(model: nn.Module) -> HubClassifier:
    if isinstance(model, HubClassifier):
        return model
    inner = getattr(model, "student", None)  # a HintStudent (student + regressor)
    if isinstance(inner, HubClassifier):
        return inner
    return HubClassifier.from_model(model)


class _WithTeacherLogits(torch.utils.data.Dataset):
    """A dataset whose examples carry the cached ``teacher_logits`` of their index."""

    def __init__(self, dataset: Any, logits: Tensor) -> None:
        self.dataset, self.logits = dataset, logits

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {**self.dataset[index], "teacher_logits": self.logits[index]}


class _Collator:
    """Wraps a collator so that ``teacher_pixel_values`` and ``teacher_logits`` survive batching."""

    EXTRA = ("teacher_pixel_values", "teacher_logits")

    def __init__(self, base: Any) -> None:
        self.base = base

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        extra = {k: torch.stack([e[k] for e in examples]) for k in self.EXTRA if k in examples[0]}
        rest = [{k: v for k, v in e.items() if k not in self.EXTRA} for e in examples]
        return {**self.base(rest), **extra}


class DistillationTrainer(Trainer):
    """Trains ``model`` (the student) to match a frozen ``teacher``.

    - The teacher is put in eval mode with ``requires_grad=False``, placed on the Accelerate device
      (``prepare_model(..., evaluation_mode=True)``: no DDP wrapper, no optimizer) and only run in training steps;
      ``evaluate()`` measures the student alone.
    - Preprocessing: batches may carry ``teacher_pixel_values`` (from the raw image,
      :func:`hfnet.distillation.data.with_distillation_transform`); otherwise the student's ``pixel_values`` are
      converted to the teacher's resolution and normalisation on the fly (:func:`convert_pixels`).
    - ``args.cache_teacher_logits`` runs the teacher once over the training set (refused for random augmentation).
    - ``args.merit_delta > 0``: per-sample soft-loss weights from :func:`~hfnet.distillation.losses.merit_weights`.
    - Unlabelled (transfer-set) samples carry the label ``-100``: soft term only
      (:func:`~hfnet.distillation.losses.kd_loss_terms`); evaluation never sees them.
    - Logged terms: ``loss_hard`` (labelled samples), ``loss_soft``, ``alpha_mean`` (the soft weight used, unlabelled
      samples at 1) and, with a transfer set, ``labeled_fraction``. The hint stage is
      :class:`hfnet.distillation.hint.HintTrainer`.
    """

    # compute_loss returns a per-batch mean; the Trainer divides it by the accumulation steps
    loss_is_scaled_for_ga = False

    def __init__(
        self,
        model: nn.Module,
        teacher: nn.Module,
        args: DistillationConfig,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        data_collator: Any = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(args, DistillationConfig):
            raise HfnetError("DistillationTrainer needs a DistillationConfig (TrainingArguments plus KD settings)")
        teacher = teacher if isinstance(teacher, HubClassifier) else HubClassifier.from_model(teacher)
        student = _classifier(model)
        check_same_classes(student, teacher)
        if data_collator is None:
            from hfnet.data import collate_fn

            data_collator = collate_fn
        super().__init__(
            model=model,
            args=args,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            data_collator=_Collator(data_collator),
            **kwargs,
        )
        quiet_when_no_progress(self)
        self.student_preprocessing = student.preprocessing
        self.teacher_preprocessing = teacher.preprocessing
        teacher.eval().requires_grad_(False)
        self.teacher = self.accelerator.prepare_model(teacher, evaluation_mode=True)
        self._cache_built = False
        self._metrics: dict[str, dict[str, list[Tensor]]] = {"train": defaultdict(list), "eval": defaultdict(list)}

    # ------------------------------------------------------------------ teacher
    def _teacher_pixels(self, inputs: dict[str, Any]) -> Tensor:
        if "teacher_pixel_values" in inputs:
            return inputs["teacher_pixel_values"]
        return convert_pixels(inputs["pixel_values"], self.student_preprocessing, self.teacher_preprocessing)

    @torch.no_grad()
    def teacher_logits(self, inputs: dict[str, Any]) -> Tensor:
        """Teacher logits for a batch (cached ones when the batch carries them)."""
        if "teacher_logits" in inputs:
            return inputs["teacher_logits"]
        if self.teacher.training:
            self.teacher.eval()
        return self.teacher(pixel_values=self._teacher_pixels(inputs)).logits

    # ------------------------------------------------------------------ logit cache
    def _build_teacher_cache(self) -> None:
        dataset = self.train_dataset
        # a random transform shows up as different pixels for the same index; probe a few examples
        for index in range(min(8, len(dataset))):
            first, again = dataset[index], dataset[index]
            if "pixel_values" in first and not torch.equal(first["pixel_values"], again["pixel_values"]):
                raise HfnetError(
                    f"cache_teacher_logits needs a deterministic training set, but train_dataset[{index}] gave different "
                    "pixel_values twice (random augmentation?); turn the cache off or drop the augmentation"
                )
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=self.args.per_device_eval_batch_size, shuffle=False, collate_fn=self.data_collator
        )
        chunks = []
        for batch in loader:
            batch = self._prepare_inputs(batch)
            chunks.append(self.teacher_logits(batch).float().cpu())
        logits = torch.cat(chunks)
        logger.info("cached teacher logits for %d training examples", len(logits))
        self.train_dataset = _WithTeacherLogits(dataset, logits)

    def get_train_dataloader(self):
        if self.args.cache_teacher_logits and not self._cache_built:
            self._build_teacher_cache()
            self._cache_built = True
        return super().get_train_dataloader()

    # ------------------------------------------------------------------ loss
    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Tensor | int | None = None,
    ) -> Tensor | tuple[Tensor, Any]:
        labels = inputs["labels"]
        if not model.training:
            # evaluation measures the student alone: the teacher is not run
            outputs = model(pixel_values=inputs["pixel_values"], labels=labels)
            loss = outputs["loss"]
            return (loss, outputs) if return_outputs else loss
        outputs = model(pixel_values=inputs["pixel_values"])
        teacher_logits = self.teacher_logits(inputs)
        alpha: float | Tensor = self.args.alpha
        if self.args.merit_delta > 0:
            alpha = merit_weights(teacher_logits, labels, self.args.alpha, self.args.merit_delta)
        terms = kd_loss_terms(outputs["logits"], teacher_logits, labels, self.args.temperature, alpha)
        metrics = self._metrics["train"]
        # kept as tensors: no device sync per step, averaged when the Trainer logs
        metrics["loss_hard"].append(terms["hard"])
        metrics["loss_soft"].append(terms["soft"])
        metrics["alpha_mean"].append(terms["alpha"])
        if self.args.unlabeled_dataset:
            metrics["labeled_fraction"].append(terms["labeled"])
        return (terms["loss"], outputs) if return_outputs else terms["loss"]

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        mode = "train" if self.model.training else "eval"
        pending = self._metrics[mode]
        if pending:
            names = sorted(pending)
            means = torch.stack([torch.stack(pending[n]).float().mean().to(self.args.device) for n in names])
            if self.accelerator.num_processes > 1:
                means = self.accelerator.reduce(means, reduction="mean")
            prefix = "eval_" if mode == "eval" else ""
            logs = {**logs, **{prefix + n: round(float(v), 6) for n, v in zip(names, means.tolist())}}
            pending.clear()
        super().log(logs, start_time)
