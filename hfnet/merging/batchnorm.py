"""Recompute BatchNorm statistics after merging.

Averaging two networks averages their BatchNorm running statistics too, but the merged network's activations do not
have those statistics (variance collapse, Jordan et al. 2023 "REPAIR", https://arxiv.org/abs/2211.08403). Running the
merged model once over some training images and re-estimating mean/variance fixes most of it.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from hfnet._modelstate import train_mode
from hfnet.data import model_batches
from hfnet.errors import HfnetError

logger = logging.getLogger(__name__)


@torch.no_grad()
def recompute_batchnorm(
    classifier: nn.Module, dataset, *, batch_size: int = 64, max_samples: int | None = 1024
) -> int:
    """Reset every BatchNorm layer's running statistics and re-estimate them on ``dataset``.

    The new statistics are the plain average over the batches (PyTorch's ``momentum=None`` cumulative average) of
    each batch's mean and unbiased variance, ``num_batches_tracked`` the number of batches. Dropout and the other
    layers run in training mode during the pass; every module's mode and every BatchNorm momentum is restored after.

    Args:
        classifier: a :class:`hfnet.HubClassifier` (or any module taking ``pixel_values``).
        dataset: raw (``image``/``label``) or transformed (``pixel_values``) dataset.
        batch_size: forward batch size.
        max_samples: use at most this many examples (the first ones).

    Returns:
        The number of BatchNorm layers updated (0: the model has none, nothing changed).
    """

    norms = [m for m in classifier.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return 0
    if len(dataset) == 0:
        raise HfnetError("cannot recompute BatchNorm statistics on an empty dataset")
    if max_samples is not None and len(dataset) > max_samples:
        dataset = dataset.select(range(max_samples))
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over all batches
    try:
        with train_mode(classifier):
            batches = model_batches(
                dataset, classifier.preprocessing, batch_size, progress=True, desc="BatchNorm statistics"
            )
            for batch in batches:
                classifier(batch["pixel_values"])
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
    logger.info("recomputed the statistics of %d BatchNorm layers on %d images", len(norms), len(dataset))
    return len(norms)
