"""Compression: structured pruning (whole heads and MLP neurons) recovered by distillation from the dense teacher,
stage by stage (``hfnet compress``). The steps are named functions in :mod:`hfnet.compression.pipeline`; the KD +
hint loss is :class:`hfnet.compression.trainer.CompressionTrainer`; the consistent views of the training batches
(function matching) are :mod:`hfnet.compression.augment`."""

from hfnet.compression.config import CompressConfig, stage_sparsities

__all__ = ["CompressConfig", "stage_sparsities"]
