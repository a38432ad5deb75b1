"""Knowledge distillation: KD / merit / hint losses, ``DistillationConfig`` + ``DistillationTrainer``, assistant
chains, unlabelled transfer sets and the multimodal selector (seed 004, METHODS.md section 4).
"""

from hfnet._lazy import lazy_exports

_EXPORTS = {
    "kd_loss": "hfnet.distillation.losses",
    "kd_loss_terms": "hfnet.distillation.losses",
    "hard_loss": "hfnet.distillation.losses",
    "soft_loss": "hfnet.distillation.losses",
    "merit_weights": "hfnet.distillation.losses",
    "hint_loss": "hfnet.distillation.losses",
    "IGNORE_INDEX": "hfnet.distillation.losses",
    "TransferSet": "hfnet.distillation.data",
    "load_transfer_set": "hfnet.distillation.data",
    "with_transfer_set": "hfnet.distillation.data",
    "DistillationConfig": "hfnet.distillation.config",
    "DistillationOptions": "hfnet.distillation.options",
    "DistillArguments": "hfnet.distillation.options",
    "DistillationResult": "hfnet.distillation.job",
    "run_distillation": "hfnet.distillation.job",
    "DistillationTrainer": "hfnet.distillation.trainer",
    "convert_pixels": "hfnet.distillation.trainer",
    "check_same_classes": "hfnet.distillation.trainer",
    "HintRegressor": "hfnet.distillation.hint",
    "distill": "hfnet.distillation.chain",
    "distill_chain": "hfnet.distillation.chain",
    "run_hint_stage": "hfnet.distillation.hint",
    "HintTrainer": "hfnet.distillation.hint",
    "StageResult": "hfnet.distillation.chain",
    "with_distillation_transform": "hfnet.distillation.data",
    "ModalitySelector": "hfnet.distillation.selector",
    "train_selector": "hfnet.distillation.selector",
    "select_predictions": "hfnet.distillation.selector",
    "average_predictions": "hfnet.distillation.selector",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
