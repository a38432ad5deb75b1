"""Per-weight importance scores for single-shot pruning of pretrained models: random, magnitude, SNIP, ReFer, AFR.

Every score function maps ``(classifier, calibration batches)`` to a plain ``dict[str, Tensor]``: prunable
parameter name (as in ``classifier.model.state_dict()``) -> score tensor of the parameter's shape, higher = keep.

- SNIP (Lee et al. 2019, https://arxiv.org/abs/1810.02340): ``|dL/dw * w|`` with L the cross-entropy of the model
  (with its new downstream head) on the calibration data.
- ReFer (seed 002, "Retaining Feature Representation"): ``|d(sum_l F_svd^l)/dw * w|`` where ``F^l`` is the matrix
  of block l's output features (one row per sample, or per token) and ``F_svd^l`` the mean of its singular values.
- AFR (seed 002, "Adaptive Feature Retention"): ``z(S_snip) + z(S_refer)``, z = standardisation with the mean and
  standard deviation over all prunable weights together (*choice*: global statistics).

Calibration over several batches is exact: gradients are summed (in float64) over all batches, and under
Accelerate with several processes each process takes every N-th batch and the sums are all-reduced, so N processes
give the scores of 1 process, which are the scores of one large batch. For ReFer the singular values of the whole
calibration feature matrix are needed: a first, gradient-free pass accumulates each block's Gram matrix
``F^T F`` over all batches (and processes); its eigen-decomposition gives ``d F_svd / d F = F V S^-1 V^T / k``, which
the second pass back-propagates batch by batch (``refer_statistics="union"``, the default; each block counts its own
rows, which differ between CNN stages with ``token_pooling="tokens"``). The cheaper literal
variant, ``refer_statistics="batch"``, takes the singular values of each batch's features (``torch.linalg.svdvals``)
and sums the per-batch gradients: one forward pass fewer, but it depends on how the data is split into batches.

The objectives are pure functions of one batch (:func:`snip_objective`, :func:`refer_union_objective`,
:func:`refer_batch_objective`); :func:`gradient_scores` is the one engine that runs the forward passes, sums their
gradients over batches and processes and returns ``|g * w|`` per objective.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import torch
from torch import Tensor, nn

from hfnet._modelstate import eval_mode
from hfnet.errors import HfnetError

logger = logging.getLogger(__name__)

TokenPooling = Literal["cls", "mean", "tokens"]
ReferStatistics = Literal["union", "batch"]

_PRUNABLE_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
# singular values below this fraction of the largest one carry no usable gradient direction
_SV_RTOL = 1e-6

__all__ = [
    "SCORE_FUNCTIONS",
    "Calibration",
    "afr_scores",
    "compute_scores",
    "gradient_scores",
    "magnitude_scores",
    "prunable_parameters",
    "random_scores",
    "refer_batch_objective",
    "refer_scores",
    "refer_union_objective",
    "snip_objective",
    "snip_scores",
    "standardize",
]


# ---------------------------------------------------------------------- what can be pruned
def prunable_parameters(classifier) -> dict[str, nn.Parameter]:
    """The weights that pruning may zero: Linear/Conv weights inside ``classifier.blocks()``.

    For a ViT these are qkv / q,k,v projections, the attention output projection and the MLP fc1/fc2 of every block;
    for a CNN the conv (and linear) weights of every stage. Embeddings (patch/stem), norms, biases and the
    classifier head are never pruned (*choice*, as in the paper's setting). Names are those of
    ``classifier.model.state_dict()``, the names a saved checkpoint uses.

    Raises:
        HfnetError: the model has no such weights.
    """
    try:
        blocks = classifier.blocks()
    except HfnetError as e:
        raise HfnetError(f"the model has no prunable layers: {e}") from e
    head = classifier.head_name
    out: dict[str, nn.Parameter] = {}
    for block_name, block in blocks:
        for name, module in block.named_modules():
            full = f"{block_name}.{name}" if name else block_name
            if full == head or full.startswith(head + "."):
                continue
            if isinstance(module, _PRUNABLE_TYPES) and isinstance(getattr(module, "weight", None), nn.Parameter):
                out[f"{full}.weight"] = module.weight
    if not out:
        raise HfnetError(
            f"the model ({type(classifier.model).__name__}) has no prunable layers: no Linear/Conv weights inside its "
            "blocks (hfnet prunes the Linear layers of transformer blocks and the conv layers of CNN stages)"
        )
    return out


def _batch_tensors(batch: Any, device: torch.device) -> tuple[Tensor, Tensor]:
    if isinstance(batch, Mapping):
        pixels, labels = batch["pixel_values"], batch.get("labels")
    else:
        pixels, labels = batch[0], batch[1] if len(batch) > 1 else None
    if labels is None:
        raise HfnetError("calibration batches need labels (SNIP and AFR use the downstream loss)")
    return pixels.to(device), labels.to(device)


def _shard(batches: Iterable[Any]) -> tuple[list[Any], Any]:
    """This process's share of the calibration batches (every N-th batch) and the distributed state (or None)."""
    state = None
    try:
        from accelerate import PartialState

        state = PartialState()
        if state.num_processes <= 1 or not torch.distributed.is_initialized():
            state = None
    except Exception:  # noqa: BLE001 - no accelerate / no process group: single process
        state = None
    all_batches = list(batches)
    if not all_batches:
        raise HfnetError("no calibration batches: pass at least one batch of labelled images")
    if state is None:
        return all_batches, None
    if len(all_batches) < state.num_processes:
        raise HfnetError(
            f"{len(all_batches)} calibration batch(es) for {state.num_processes} processes: every process needs at "
            "least one; use more calibration samples or a smaller calibration batch size"
        )
    return all_batches[state.process_index :: state.num_processes], state


def _all_reduce_(tensors: list[Tensor], state: Any) -> None:
    """Sum tensors in place across processes (float64 keeps the sum independent of the process count)."""
    if state is None or not tensors:
        return
    flat = torch.cat([t.reshape(-1) for t in tensors])
    device = state.device if state.backend == "nccl" else torch.device("cpu")
    flat = flat.to(device)
    torch.distributed.all_reduce(flat, op=torch.distributed.ReduceOp.SUM)
    flat = flat.to(tensors[0].device)
    offset = 0
    for t in tensors:
        n = t.numel()
        t.copy_(flat[offset : offset + n].view_as(t))
        offset += n


# ---------------------------------------------------------------------- data-free scores
def random_scores(classifier, seed: int = 0) -> dict[str, Tensor]:
    """Uniform random scores (the random-pruning baseline), reproducible from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    return {n: torch.rand(p.shape, generator=gen) for n, p in prunable_parameters(classifier).items()}


def magnitude_scores(classifier) -> dict[str, Tensor]:
    """``|w|`` (magnitude pruning baseline)."""
    return {n: p.detach().abs().float().cpu() for n, p in prunable_parameters(classifier).items()}


# ---------------------------------------------------------------------- block features
def _pool_features(output: Any, pooling: TokenPooling, num_prefix_tokens: int) -> Tensor:
    """Block output -> feature matrix ``F`` with one row per sample (cls / mean) or per token (tokens)."""
    if isinstance(output, tuple | list):
        output = output[0]
    if hasattr(output, "last_hidden_state"):
        output = output.last_hidden_state
    if not isinstance(output, Tensor):
        raise HfnetError(f"cannot read block output of type {type(output).__name__} for ReFer")
    if output.dim() == 4:  # CNN feature map [B, C, H, W]: spatial positions play the tokens' role
        output = output.flatten(2).transpose(1, 2)
        if pooling == "cls":
            pooling = "mean"  # a CNN has no class token
    if output.dim() == 2:
        return output
    if output.dim() != 3:
        raise HfnetError(f"ReFer expects block outputs [B, T, D] or [B, C, H, W], got shape {tuple(output.shape)}")
    if pooling == "cls":
        if num_prefix_tokens == 0:
            return output.mean(dim=1)  # no class token (global-average-pooled ViTs)
        return output[:, 0]
    if pooling == "mean":
        return output.mean(dim=1)
    return output.reshape(-1, output.shape[-1])


def _num_prefix_tokens(classifier) -> int:
    return int(getattr(classifier.model, "num_prefix_tokens", 1))


def _check_pooling(pooling: str) -> None:
    if pooling not in ("cls", "mean", "tokens"):
        raise HfnetError(f"token_pooling must be 'cls', 'mean' or 'tokens', got {pooling!r}")


class _BlockFeatures:
    """Forward hooks on every block that keep the pooled output features of the current forward pass."""

    def __init__(self, classifier, pooling: TokenPooling) -> None:
        _check_pooling(pooling)
        self.features: list[Tensor] = []
        prefix = _num_prefix_tokens(classifier)
        self.handles = [
            module.register_forward_hook(
                lambda _m, _i, out: self.features.append(_pool_features(out, pooling, prefix))
            )
            for _, module in classifier.blocks()
        ]

    def __enter__(self) -> _BlockFeatures:
        return self

    def __exit__(self, *exc: Any) -> None:
        for h in self.handles:
            h.remove()


def _svd_directions(grams: list[Tensor], rows: list[int]) -> tuple[list[Tensor], float]:
    """``M_l = V S^-1 V^T / k_l`` per block (so ``dF_svd/dF = F M``) and ``sum_l F_svd^l`` from the Gram matrices.

    ``rows[l]`` is the number of rows of block l's feature matrix over the whole calibration set: with
    ``token_pooling="tokens"`` on a CNN every stage has its own spatial size, so its own row count and its own
    number ``k_l = min(rows_l, D_l)`` of singular values.
    """
    if len(rows) != len(grams):
        raise HfnetError(f"{len(rows)} row counts for {len(grams)} blocks")
    mats, total = [], 0.0
    for gram, n_rows in zip(grams, rows):
        evals, evecs = torch.linalg.eigh(gram)
        sv = evals.clamp_min(0).sqrt()
        k = min(int(n_rows), gram.shape[0])  # F is rows x D: min(rows, D) singular values
        top = sv.argsort(descending=True)[:k]
        sv, vec = sv[top], evecs[:, top]
        total += float(sv.sum() / k)
        keep = sv > sv.max().clamp_min(torch.finfo(sv.dtype).tiny) * _SV_RTOL
        vec = vec[:, keep]
        mats.append((vec / sv[keep]) @ vec.T / k)
    return mats, total


# ---------------------------------------------------------------------- objectives (pure functions)
def snip_objective(logits: Tensor, labels: Tensor, features: list[Tensor], *, num_samples: float) -> Tensor:
    """SNIP's loss for one batch: the cross-entropy summed over the batch, divided by the global sample count.

    Summed over all batches (and processes) this is the mean cross-entropy over the whole calibration set, so the
    accumulated gradient is that of one large batch. ``features`` is unused (same signature as ReFer's).
    """
    return nn.functional.cross_entropy(logits.float(), labels, reduction="sum") / num_samples


def refer_union_objective(
    logits: Tensor, labels: Tensor, features: list[Tensor], *, directions: list[Tensor]
) -> Tensor:
    """ReFer over the union of all batches: ``sum_l <F_l, stopgrad(F_l M_l)>`` for this batch's rows ``F_l``.

    Its gradient with respect to ``F_l`` is ``F_l M_l``, the rows of ``d(mean singular value of the union)/dF`` that
    belong to this batch (``M_l`` from :func:`_svd_directions`), so summing the gradients over batches gives the
    gradient of ``sum_l F_svd^l`` of the whole calibration set.
    """
    if len(features) != len(directions):
        raise HfnetError(f"{len(features)} block features for {len(directions)} ReFer directions")
    return sum((f.float() * (f.detach().double() @ m).float()).sum() for f, m in zip(features, directions))


def refer_batch_objective(logits: Tensor, labels: Tensor, features: list[Tensor]) -> Tensor:
    """Literal per-batch ReFer: ``sum_l`` mean singular value of this batch's ``F_l`` (``torch.linalg.svdvals``)."""
    return sum(torch.linalg.svdvals(f.float()).mean() for f in features)


Objective = Callable[[Tensor, Tensor, list[Tensor]], Tensor]
"""``(logits, labels, pooled block features) -> scalar`` for one batch; the engine sums its gradients."""


@dataclass
class Calibration:
    """What an objective may need before the gradient pass: this process's batches and the global sample count."""

    classifier: Any
    batches: list[Any]
    state: Any
    num_samples: float
    token_pooling: TokenPooling
    progress: bool = False


def _snip_builder(cal: Calibration) -> Objective:
    return partial(snip_objective, num_samples=cal.num_samples)


def _refer_builder(statistics: ReferStatistics) -> Callable[[Calibration], Objective]:
    if statistics not in ("union", "batch"):
        raise HfnetError(f"refer_statistics must be 'union' or 'batch', got {statistics!r}")
    if statistics == "batch":
        return lambda cal: refer_batch_objective

    def build(cal: Calibration) -> Objective:
        directions = _refer_directions(cal.classifier, cal.batches, cal.state, cal.token_pooling, cal.progress)
        return partial(refer_union_objective, directions=directions)

    return build


# ---------------------------------------------------------------------- the one-pass gradient engine
def gradient_scores(
    classifier,
    batches: Iterable[Any],
    objectives: Mapping[str, Callable[[Calibration], Objective]],
    *,
    token_pooling: TokenPooling | None = None,
    progress: bool = False,
) -> dict[str, dict[str, Tensor]]:
    """``|g_k * w|`` for every objective k, with ``g_k`` its gradient summed over all batches (and processes).

    One forward pass per batch serves every objective (AFR needs SNIP and ReFer from the same passes). Each entry
    of ``objectives`` builds its per-batch function from the :class:`Calibration` (ReFer's union statistics run
    their own gradient-free pass there); the engine knows nothing of the methods.

    Args:
        objectives: name -> builder ``Calibration -> Objective``.
        token_pooling: collect the pooled block features (for ReFer) with this pooling; ``None``: no hooks.
    """
    from tqdm.auto import tqdm

    params = prunable_parameters(classifier)
    names, tensors = list(params), list(params.values())
    device = tensors[0].device
    local, state = _shard(batches)
    # the global sample count, so that sums over batches/processes give means over the union of all batches
    counts = torch.tensor([float(sum(_batch_tensors(b, torch.device("cpu"))[1].numel() for b in local))])
    _all_reduce_([counts], state)
    kinds = list(objectives)
    grads = {k: [torch.zeros(p.shape, dtype=torch.float64, device=device) for p in tensors] for k in kinds}
    requires = [p.requires_grad for p in tensors]
    for p in tensors:
        p.requires_grad_(True)
    try:
        with eval_mode(classifier):
            cal = Calibration(classifier, local, state, float(counts.item()), token_pooling or "cls", progress)
            functions = {k: build(cal) for k, build in objectives.items()}
            hooks = _BlockFeatures(classifier, token_pooling) if token_pooling is not None else None
            try:
                for batch in tqdm(local, desc="scoring", disable=not progress, leave=False):
                    _accumulate_batch(classifier, batch, device, hooks, functions, tensors, grads)
            finally:
                if hooks is not None:
                    hooks.__exit__()
    finally:
        for p, r in zip(tensors, requires):
            p.requires_grad_(r)
    out: dict[str, dict[str, Tensor]] = {}
    for kind in kinds:
        _all_reduce_(grads[kind], state)
        out[kind] = {n: (g * p.detach().double()).abs().float().cpu() for n, g, p in zip(names, grads[kind], tensors)}
    return out


def _accumulate_batch(classifier, batch, device, hooks, functions, tensors, grads) -> None:
    """One forward pass of ``batch``; adds every objective's gradient (float64) to its accumulators in ``grads``."""
    pixels, labels = _batch_tensors(batch, device)
    if hooks is not None:
        hooks.features.clear()
    logits = classifier.logits(pixels)
    features = list(hooks.features) if hooks is not None else []
    kinds = list(functions)
    for i, kind in enumerate(kinds):
        objective = functions[kind](logits, labels, features)
        g = torch.autograd.grad(objective, tensors, retain_graph=i < len(kinds) - 1, allow_unused=True)
        for acc, gi in zip(grads[kind], g):
            if gi is not None:
                acc.add_(gi.double())


@torch.no_grad()
def _refer_directions(
    classifier, local: list[Any], state: Any, token_pooling: TokenPooling, progress: bool
) -> list[Tensor]:
    """First ReFer pass: Gram matrices ``F^T F`` and row counts of every block over all batches and processes."""
    from tqdm.auto import tqdm

    device = next(classifier.parameters()).device
    grams: list[Tensor] | None = None
    rows: Tensor | None = None
    with _BlockFeatures(classifier, token_pooling) as hooks:
        for batch in tqdm(local, desc="ReFer statistics", disable=not progress, leave=False):
            pixels, _ = _batch_tensors(batch, device)
            hooks.features.clear()
            classifier.logits(pixels)
            feats = [f.double() for f in hooks.features]
            if grams is None:
                grams = [torch.zeros(f.shape[1], f.shape[1], dtype=torch.float64, device=device) for f in feats]
                rows = torch.zeros(len(feats), dtype=torch.float64, device=device)
            for g, f in zip(grams, feats):
                g.add_(f.T @ f)
            # every block has its own row count (CNN stages with "tokens": batch x its own H x W)
            rows += torch.tensor([f.shape[0] for f in feats], dtype=torch.float64, device=device)
    if grams is None or rows is None:
        raise HfnetError("every process needs at least one calibration batch: use more calibration samples")
    _all_reduce_([*grams, rows], state)
    mats, total = _svd_directions(grams, [int(r) for r in rows.tolist()])
    logger.info("ReFer: sum over %d blocks of the mean singular value = %.4g", len(grams), total)
    return mats


def snip_scores(classifier, batches: Iterable[Any], *, progress: bool = False) -> dict[str, Tensor]:
    """SNIP: ``|dL/dw * w|``, L = mean cross-entropy over all calibration samples (all batches, all processes).

    Args:
        classifier: a :class:`hfnet.HubClassifier` whose head already fits the downstream classes.
        batches: iterable of ``{"pixel_values": [B, 3, H, W], "labels": [B]}`` (or ``(pixels, labels)`` tuples).
    """
    return gradient_scores(classifier, batches, {"snip": _snip_builder}, progress=progress)["snip"]


def refer_scores(
    classifier,
    batches: Iterable[Any],
    *,
    token_pooling: TokenPooling = "cls",
    refer_statistics: ReferStatistics = "union",
    progress: bool = False,
) -> dict[str, Tensor]:
    """ReFer: ``|d(sum_l F_svd^l)/dw * w|`` with ``F_svd^l`` the mean singular value of block l's output features.

    Args:
        token_pooling: rows of ``F^l`` for a ViT: ``"cls"`` (the class token, default *choice*), ``"mean"`` (mean over
            tokens) or ``"tokens"`` (every token a row). CNN feature maps use the spatial mean for ``"cls"``.
        refer_statistics: ``"union"`` (singular values of all calibration samples together, exact for any batching
            and process count) or ``"batch"`` (per-batch singular values, gradients summed; one pass fewer).
    """
    _check_pooling(token_pooling)
    objectives = {"refer": _refer_builder(refer_statistics)}
    return gradient_scores(classifier, batches, objectives, token_pooling=token_pooling, progress=progress)["refer"]


def standardize(scores: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """z-scores with the mean and standard deviation over all tensors together (global statistics)."""
    flat = torch.cat([s.reshape(-1).double() for s in scores.values()])
    mean, std = flat.mean(), flat.std()
    if not torch.isfinite(std) or std == 0:
        std = torch.ones((), dtype=torch.float64)
    return {n: ((s.double() - mean) / std).float() for n, s in scores.items()}


def afr_scores(
    classifier,
    batches: Iterable[Any],
    *,
    token_pooling: TokenPooling = "cls",
    refer_statistics: ReferStatistics = "union",
    progress: bool = False,
    return_components: bool = False,
) -> dict[str, Tensor] | tuple[dict[str, Tensor], dict[str, Tensor], dict[str, Tensor]]:
    """AFR: ``z(S_snip) + z(S_refer)`` (both from the same forward passes; z over all prunable weights).

    With ``return_components=True`` returns ``(afr, snip, refer)``.
    """
    _check_pooling(token_pooling)
    objectives = {"snip": _snip_builder, "refer": _refer_builder(refer_statistics)}
    both = gradient_scores(classifier, batches, objectives, token_pooling=token_pooling, progress=progress)
    z_snip, z_refer = standardize(both["snip"]), standardize(both["refer"])
    afr = {n: z_snip[n] + z_refer[n] for n in z_snip}
    if return_components:
        return afr, both["snip"], both["refer"]
    return afr


SCORE_FUNCTIONS: dict[str, Callable[..., dict[str, Tensor]]] = {
    "random": random_scores,
    "magnitude": magnitude_scores,
    "snip": snip_scores,
    "refer": refer_scores,
    "afr": afr_scores,
}


def compute_scores(
    method: str,
    classifier,
    batches: Iterable[Any] | None = None,
    *,
    seed: int = 0,
    token_pooling: TokenPooling = "cls",
    refer_statistics: ReferStatistics = "union",
    progress: bool = False,
) -> dict[str, Tensor]:
    """Scores of ``method`` (one of :data:`SCORE_FUNCTIONS`) for the classifier's prunable weights."""
    method = method.lower()
    if method not in SCORE_FUNCTIONS:
        raise HfnetError(f"unknown pruning method {method!r}; choose one of {', '.join(SCORE_FUNCTIONS)}")
    if method == "random":
        return random_scores(classifier, seed=seed)
    if method == "magnitude":
        return magnitude_scores(classifier)
    if batches is None:
        raise HfnetError(f"method {method!r} needs calibration batches")
    if method == "snip":
        return snip_scores(classifier, batches, progress=progress)
    kwargs = dict(token_pooling=token_pooling, refer_statistics=refer_statistics, progress=progress)
    if method == "refer":
        return refer_scores(classifier, batches, **kwargs)
    return afr_scores(classifier, batches, **kwargs)
