"""The knowledge-distillation settings, declared once and importable without torch or transformers.

:class:`hfnet.distillation.config.DistillationConfig` is ``TrainingArguments`` + these fields (+ the hint layers);
``hfnet distill`` and ``recipes/distill.py`` parse them from the same declaration.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hfnet.errors import HfnetError

__all__ = ["DistillArguments", "DistillationOptions", "parse_hint"]


def parse_hint(spec: str) -> tuple[str, str]:
    """Split ``"STUDENT_LAYER:TEACHER_LAYER"`` into its two module names."""
    parts = spec.split(":")
    if len(parts) != 2 or not all(p.strip() for p in parts):
        raise HfnetError(
            f"hint {spec!r} must look like STUDENT_LAYER:TEACHER_LAYER with module names inside each model, "
            "e.g. 'resnet.encoder.stages.1:resnet.encoder.stages.2'"
        )
    return parts[0].strip(), parts[1].strip()


@dataclass
class DistillationOptions:
    """Distillation: the KD loss, merit weights, hint stage and the unlabelled transfer set.

    Defaults follow the papers: Hinton et al. 2015 (``temperature``, ``alpha``), the seed's merit-based weighting
    (a small ``merit_delta``) and FitNets (Romero et al. 2014) for the hint stage.
    """

    temperature: float = field(
        default=4.0,
        metadata={
            "help": "Softmax temperature T > 0 of the soft targets (Hinton et al. used 1 to 20).",
            "min": 0,
            "min_open": True,
        },
    )
    alpha: float = field(
        default=0.5,
        metadata={
            "help": "Weight in [0, 1] of the soft loss T^2 * KL; the hard cross-entropy gets 1 - alpha (0.5: the "
            "distillation benchmark and the demo).",
            "min": 0,
            "max": 1,
        },
    )
    merit_delta: float = field(
        default=0.0,
        metadata={
            "help": "Merit-based distillation: per sample, alpha + delta where the teacher is right and alpha - delta "
            "where it is wrong (clipped to [0, 1]). 0 disables it; the seed found small shifts (about 0.1) best.",
            "aliases": ("--merit",),
            "min": 0,
            "max": 1,
        },
    )
    hint_epochs: float = field(
        default=1.0,
        metadata={"help": "Epochs of the hint stage (before KD); ignored when hint_max_steps > 0.", "min": 0},
    )
    hint_max_steps: int = field(
        default=-1,
        metadata={
            "help": "Optimizer steps of the hint stage; -1 uses hint_epochs.",
            "aliases": ("--hint-steps",),
            "min": -1,
        },
    )
    hint_learning_rate: float | None = field(
        default=None,
        metadata={"help": "Learning rate of the hint stage; default: learning_rate.", "min": 0, "min_open": True},
    )
    cache_teacher_logits: bool = field(
        default=False,
        metadata={
            "help": "Run the teacher once over the training set and reuse its logits every epoch. Refused when the "
            "training set is randomly augmented (the same index gives different pixels)."
        },
    )
    unlabeled_dataset: str | None = field(
        default=None,
        metadata={
            "help": "Unlabelled transfer set: images (digits | fashion_mnist | mnist | a Hub dataset id | an image "
            "folder, with or without class sub-folders) appended to the training set without their labels; they are "
            "trained on the teacher's soft targets only (Hinton et al. 2015, sec. 2). Images equal to a training or "
            "evaluation image are left out; evaluation never uses the set.",
            "metavar": "NAME_OR_PATH",
        },
    )
    unlabeled_split: str = field(
        default="train", metadata={"help": "Split of --unlabeled-dataset to take the images from."}
    )
    unlabeled_samples: int | None = field(
        default=None,
        metadata={"help": "Use at most this many unlabelled images (drawn with --seed); default: all.", "min": 1},
    )
    unlabeled_image_column: str | None = field(
        default=None, metadata={"help": "Image column of --unlabeled-dataset (detected when omitted)."}
    )

    def __post_init__(self) -> None:
        self.validate_distillation()

    def validate_distillation(self) -> None:
        if not self.temperature > 0:
            raise HfnetError(f"temperature must be > 0, got {self.temperature}; try 4 (Hinton et al. used 1 to 20)")
        if not 0.0 <= self.alpha <= 1.0:
            raise HfnetError(f"alpha must lie in [0, 1], got {self.alpha}")
        if not 0.0 <= self.merit_delta <= 1.0:
            raise HfnetError(
                f"merit_delta must lie in [0, 1], got {self.merit_delta}; the seed used small shifts ~0.1"
            )
        if self.hint_epochs <= 0 and self.hint_max_steps <= 0:
            raise HfnetError("the hint stage needs hint_epochs > 0 or hint_max_steps > 0")
        if self.unlabeled_dataset is not None:
            if not str(self.unlabeled_dataset).strip():
                raise HfnetError("unlabeled_dataset is empty; name a dataset or an image folder, or leave it out")
            if self.alpha == 0:
                raise HfnetError(
                    f"alpha 0 turns the soft targets off, and the unlabelled images of {self.unlabeled_dataset} "
                    "learn from nothing else; give alpha > 0 (e.g. 0.5) or drop unlabeled_dataset"
                )
        if self.unlabeled_samples is not None and self.unlabeled_samples < 1:
            raise HfnetError(f"unlabeled_samples must be >= 1, got {self.unlabeled_samples}")

    def distillation_kwargs(self) -> dict:
        """These settings as keyword arguments (for :class:`DistillationConfig`)."""
        from dataclasses import fields

        return {f.name: getattr(self, f.name) for f in fields(DistillationOptions)}


@dataclass
class DistillArguments:
    """Models: the teacher, the assistants and the student."""

    teacher: str = field(
        metadata={
            "help": "Trained teacher: Hub id or local Hub-format folder.",
            "aliases": ("--teacher_model_name_or_path", "--teacher-model-name-or-path"),
        }
    )
    student: str = field(
        metadata={
            "help": "Student: a checkpoint, zoo:tiny_vit[:key=value,...], zoo:tiny_resnet[:...] or timm:NAME.",
            "aliases": ("--model_name_or_path", "--model-name-or-path"),
        }
    )
    assistants: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Teacher assistant(s) of intermediate size, same forms as --student, largest first.",
            "aliases": ("--assistant",),
            "metavar": "A",
        },
    )
    hint: list[str] = field(
        default_factory=list,
        metadata={
            "help": "FitNets hint stage S_LAYER:T_LAYER (module names in the student and in the model it learns "
            "from). One value applies to the last stage; give one per stage ('none' to skip one) to set each.",
            "metavar": "S_LAYER:T_LAYER",
        },
    )
    image_size: int | None = field(default=None, metadata={"help": "Input size of zoo:/timm: students.", "min": 1})
    augment: bool = field(default=False, metadata={"help": "Random resized crops on the training set."})
    replace_student_head: bool = field(
        default=False, metadata={"help": "Give a checkpoint student a fresh head for the dataset's classes."}
    )

    def hints_per_stage(self) -> list[str | None] | None:
        """One hint (or None) per stage, or None when no hint was given."""
        stages = len(self.assistants) + 1
        hints = [None if h.lower() == "none" else h for h in self.hint]
        for h in hints:
            if h is not None:
                parse_hint(h)
        if len(hints) == 1 and stages > 1:
            hints = [None] * (stages - 1) + hints
        if hints and len(hints) != stages:
            raise HfnetError(f"{len(self.hint)} --hint values for {stages} stages; give one, or one per stage")
        return hints or None
