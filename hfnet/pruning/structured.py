"""Structured pruning of ViTs: remove whole attention heads and MLP neurons, export a smaller ordinary checkpoint.

The same three steps as unstructured pruning, with plain data between them:

1. :func:`unit_scores`: any per-weight score dict (random, magnitude, SNIP, ReFer, AFR from
   :mod:`hfnet.pruning.scores`) summed over what a unit owns: an attention head owns its ``head_dim`` rows of the
   q, k, v projections (biases too where they were scored) and its columns of the output projection; an MLP neuron
   owns its row of fc1 (and bias) and its column of fc2. Result: ``{"heads": [L, H], "neurons": [L, I]}``.
2. :func:`structured_masks`: the same number of heads and of neurons removed in every block (so the result is an
   ordinary architecture), the lowest-scored ones in each block. The split between heads and neurons is the one
   that meets the parameter budget while removing the least total score (the structured analogue of SNIP's global
   threshold), unless ``head_fraction`` fixes it.
3. :func:`build_pruned_model` / :func:`remove_units`: a new, smaller model of the same class built from an updated
   config (transformers: ``num_attention_heads``, ``head_dim``, ``intermediate_size``; timm: ``mlp_ratio`` in the
   recorded model arguments) with the kept weights copied in. No masks, no hooks: it is fine-tuned like any dense
   model and saved with ``save_pretrained``, and loads in plain transformers / timm.

timm's ``VisionTransformer`` derives ``head_dim = embed_dim // num_heads`` and has no argument to keep it when heads
are removed, so for timm only MLP neurons are removed (:attr:`UnitLayout.heads_note` says why); transformers ViT
(and DeiT, DINOv2, ...) read ``config.head_dim``, so heads and neurons are removed there.

Single-shot pruning at initialization of the fine-tuning: SNIP (https://arxiv.org/abs/1810.02340), ReFer / AFR
(seed 002); structured head pruning as in Michel et al. 2019 (https://arxiv.org/abs/1905.10650).
"""

from __future__ import annotations

import copy
import logging
import math
import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from hfnet.errors import HfnetError

logger = logging.getLogger(__name__)

__all__ = [
    "BlockUnits",
    "UnitLayout",
    "build_pruned_model",
    "choose_unit_counts",
    "count_parameters",
    "feasible_unit_counts",
    "measure_latency",
    "remove_units",
    "structured_masks",
    "unit_layout",
    "unit_masks",
    "unit_parameter_masks",
    "unit_scores",
]


# ---------------------------------------------------------------------- what the units are
@dataclass(frozen=True)
class BlockUnits:
    """The Linear modules (names inside ``classifier.model``) that hold one block's heads and neurons.

    ``qkv`` holds three names (separate q, k, v projections, transformers) or one (fused ``[q; k; v]``, timm).
    ``out`` is the attention output projection, ``fc1`` / ``fc2`` the MLP. Empty strings: no such unit in the block.
    """

    block: str
    qkv: tuple[str, ...]
    out: str
    fc1: str
    fc2: str


@dataclass(frozen=True)
class UnitLayout:
    """Heads and neurons of every block (all blocks alike) and whether the library can express fewer of each."""

    library: str
    hidden_size: int
    num_heads: int
    head_dim: int
    num_neurons: int
    blocks: tuple[BlockUnits, ...]
    heads_removable: bool
    neurons_removable: bool
    heads_note: str = ""
    neurons_note: str = ""

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    @property
    def weights_per_head(self) -> int:
        """Prunable weights one head owns: ``head_dim`` rows of q, k, v and ``head_dim`` columns of the output."""
        return 4 * self.hidden_size * self.head_dim

    @property
    def weights_per_neuron(self) -> int:
        """Prunable weights one MLP neuron owns: its row of fc1 and its column of fc2."""
        return 2 * self.hidden_size

    @property
    def block_weights(self) -> int:
        """Prunable weights (Linear weights owned by units) of one block."""
        return self.num_heads * self.weights_per_head + self.num_neurons * self.weights_per_neuron

    @property
    def prunable_weights(self) -> int:
        return self.num_blocks * self.block_weights


def _linear(modules: Mapping[str, nn.Module], name: str) -> nn.Linear | None:
    m = modules.get(name)
    return m if isinstance(m, nn.Linear) else None


def _attention_of(block_name: str, block: nn.Module) -> tuple[tuple[str, ...], str, int, int] | None:
    """(qkv names, out name, heads, head_dim) of the block's self-attention, or None when none is recognised."""
    for sub, module in block.named_modules():
        prefix = f"{block_name}.{sub}" if sub else block_name
        children = dict(module.named_children())
        heads = getattr(module, "num_attention_heads", getattr(module, "num_heads", None))
        head_dim = getattr(module, "head_dim", None)
        if not isinstance(heads, int) or not isinstance(head_dim, int):
            continue
        width = heads * head_dim
        separate = [_linear(children, n) for n in ("q_proj", "k_proj", "v_proj", "o_proj")]
        if all(m is not None for m in separate):  # transformers ViT / DeiT / DINOv2 / BEiT ...
            q, k, v, o = separate
            if q.out_features == k.out_features == v.out_features == o.in_features == width:
                return (
                    tuple(f"{prefix}.{n}" for n in ("q_proj", "k_proj", "v_proj")),
                    f"{prefix}.o_proj",
                    heads,
                    head_dim,
                )
        qkv, proj = _linear(children, "qkv"), _linear(children, "proj")
        if qkv is not None and proj is not None and qkv.out_features == 3 * width and proj.in_features == width:
            norm = children.get("norm")  # timm scale_norm: a LayerNorm over all heads together
            if norm is not None and not isinstance(norm, nn.Identity):
                return None
            return (f"{prefix}.qkv",), f"{prefix}.proj", heads, head_dim
    return None


def _mlp_of(block_name: str, block: nn.Module) -> tuple[str, str, int] | None:
    """(fc1 name, fc2 name, neurons) of the block's MLP (elementwise activation between fc1 and fc2), or None."""
    for sub, module in block.named_modules():
        prefix = f"{block_name}.{sub}" if sub else block_name
        children = dict(module.named_children())
        fc1, fc2 = _linear(children, "fc1"), _linear(children, "fc2")
        if fc1 is None or fc2 is None or fc1.out_features != fc2.in_features:
            continue  # gated MLPs (fc1 twice as wide as fc2's input) are not elementwise per neuron
        norm = children.get("norm")  # timm scale_mlp_norm: a LayerNorm over all neurons together
        if norm is not None and not isinstance(norm, nn.Identity):
            return None
        return f"{prefix}.fc1", f"{prefix}.fc2", fc1.out_features
    return None


def unit_layout(classifier) -> UnitLayout:
    """Find the attention heads and MLP neurons of every block of a ViT and check what the library can rebuild.

    Raises:
        HfnetError: no block has heads or neurons hfnet understands, or the blocks differ in their sizes.
    """
    try:
        blocks = classifier.blocks()
    except HfnetError as e:
        raise HfnetError(f"structured pruning needs transformer blocks: {e}") from e
    found = []
    for name, block in blocks:
        attn, mlp = _attention_of(name, block), _mlp_of(name, block)
        found.append((name, attn, mlp))
    if not any(a is not None or m is not None for _, a, m in found):
        raise HfnetError(
            f"structured pruning found no attention heads or MLP neurons it understands in "
            f"{type(classifier.model).__name__}: it removes heads of q/k/v (or fused qkv) + output projections and "
            "neurons of fc1/fc2 MLPs in ViT blocks; use unstructured pruning (structured=False) for this model"
        )
    missing = [n for n, a, m in found if a is None or m is None]
    if missing:
        raise HfnetError(
            f"structured pruning needs one self-attention and one MLP in every block; {missing[0]} has "
            f"{'no recognised attention' if dict((n, a) for n, a, _ in found)[missing[0]] is None else 'no recognised MLP'}"
        )
    sizes = {(a[2], a[3], m[2]) for _, a, m in found}
    if len(sizes) > 1:
        raise HfnetError(f"the blocks differ in (heads, head_dim, neurons): {sorted(sizes)}; hfnet needs equal blocks")
    heads, head_dim, neurons = sizes.pop()
    modules = dict(classifier.model.named_modules())
    hidden = modules[found[0][1][1]].out_features
    units = tuple(BlockUnits(n, a[0], a[1], m[0], m[1]) for n, a, m in found)
    layout = UnitLayout(
        library=classifier.library,
        hidden_size=hidden,
        num_heads=heads,
        head_dim=head_dim,
        num_neurons=neurons,
        blocks=units,
        heads_removable=False,
        neurons_removable=False,
    )
    return _with_expressibility(classifier, layout)


def _with_expressibility(classifier, layout: UnitLayout) -> UnitLayout:
    """Build the architecture with one head fewer, and with one neuron fewer (on the meta device, no memory), and
    check that the library's config gives the expected shapes: what it cannot express is not removed."""
    b = layout.blocks[0]

    def trial(heads: int, neurons: int) -> tuple[bool, str]:
        try:
            with torch.device("meta"):
                modules = dict(_new_model(classifier, layout, heads, neurons).named_modules())
        except Exception as e:  # noqa: BLE001 - any failure to rebuild means: not expressible
            return False, f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
        ok = modules[b.out].in_features == heads * layout.head_dim and modules[b.fc1].out_features == neurons
        return ok, "" if ok else "the rebuilt model has other shapes"

    heads_note = neurons_note = ""
    if layout.num_heads == 1:
        heads_ok, heads_note = False, "every block has a single head, which must stay"
    else:
        heads_ok, why = trial(layout.num_heads - 1, layout.num_neurons)
        if not heads_ok:
            if layout.library == "timm":
                heads_note = (
                    "timm's VisionTransformer derives head_dim = embed_dim // num_heads and has no argument to keep "
                    "head_dim when heads are removed, so only MLP neurons are removed"
                )
            else:
                heads_note = f"{type(classifier.model).__name__} cannot be rebuilt with fewer heads ({why})"
    if layout.num_neurons == 1:
        neurons_ok, neurons_note = False, "every block has a single MLP neuron"
    else:
        neurons_ok, why = trial(layout.num_heads, layout.num_neurons - 1)
        if not neurons_ok:
            neurons_note = f"{type(classifier.model).__name__} cannot be rebuilt with a narrower MLP ({why})"
    return UnitLayout(**{**layout.__dict__, "heads_removable": heads_ok, "neurons_removable": neurons_ok,
                         "heads_note": heads_note, "neurons_note": neurons_note})  # fmt: skip


# ---------------------------------------------------------------------- 1. unit scores
def _score(scores: Mapping[str, Tensor], name: str, required: bool = True) -> Tensor | None:
    if name not in scores:
        if required:
            raise HfnetError(f"the scores have no entry for {name}; score the same model the layout came from")
        return None
    return scores[name].detach().double().cpu()


def unit_scores(scores: Mapping[str, Tensor], layout: UnitLayout) -> dict[str, Tensor]:
    """Per-weight scores summed over the weights each head and each MLP neuron owns (float64).

    Args:
        scores: ``name -> score`` as returned by :func:`hfnet.pruning.compute_scores` (weights; biases are added
            where present).
        layout: from :func:`unit_layout`.

    Returns:
        ``{"heads": [L, H], "neurons": [L, I]}``; higher = keep.
    """
    h, d, hidden = layout.num_heads, layout.head_dim, layout.hidden_size
    heads, neurons = [], []
    for b in layout.blocks:
        total = torch.zeros(h, dtype=torch.float64)
        if len(b.qkv) == 1:  # fused [q; k; v] rows
            total += _score(scores, f"{b.qkv[0]}.weight").view(3, h, d, hidden).sum(dim=(0, 2, 3))
            bias = _score(scores, f"{b.qkv[0]}.bias", required=False)
            if bias is not None:
                total += bias.view(3, h, d).sum(dim=(0, 2))
        else:
            for name in b.qkv:
                total += _score(scores, f"{name}.weight").view(h, d, hidden).sum(dim=(1, 2))
                bias = _score(scores, f"{name}.bias", required=False)
                if bias is not None:
                    total += bias.view(h, d).sum(dim=1)
        total += _score(scores, f"{b.out}.weight").view(hidden, h, d).sum(dim=(0, 2))
        heads.append(total)
        neuron = _score(scores, f"{b.fc1}.weight").sum(dim=1) + _score(scores, f"{b.fc2}.weight").sum(dim=0)
        bias = _score(scores, f"{b.fc1}.bias", required=False)
        if bias is not None:
            neuron = neuron + bias
        neurons.append(neuron)
    out = {"heads": torch.stack(heads), "neurons": torch.stack(neurons)}
    for kind, s in out.items():
        if not torch.isfinite(s).all():
            raise HfnetError(f"{kind} scores contain NaN or inf; check the calibration data and the model")
    return out


# ---------------------------------------------------------------------- 2. unit masks
def feasible_unit_counts(layout: UnitLayout, sparsity: float, head_fraction: float | None) -> list[tuple[int, int]]:
    """Every (heads, neurons) removed per block that meets ``sparsity`` of the prunable weights to within half a
    neuron and keeps at least one head and one neuron per block."""
    from hfnet.pruning.config import check_sparsity

    sparsity = check_sparsity(sparsity)
    hc, nc = layout.weights_per_head, layout.weights_per_neuron
    target = sparsity * layout.block_weights
    max_heads = layout.num_heads - 1 if layout.heads_removable else 0
    max_neurons = layout.num_neurons - 1 if layout.neurons_removable else 0
    if head_fraction is not None:
        if not 0.0 <= head_fraction < 1.0:
            raise HfnetError(f"head_fraction must be in [0, 1), got {head_fraction}")
        fixed = int(round(head_fraction * layout.num_heads))
        if fixed > max_heads:
            reason = layout.heads_note or "at least one head per block must stay"
            raise HfnetError(
                f"head_fraction {head_fraction} removes {fixed} of {layout.num_heads} heads per block, but at most "
                f"{max_heads} can go: {reason}"
            )
        head_range = [fixed]
    else:
        head_range = list(range(max_heads + 1))
    out = []
    for h in head_range:
        n = int(math.floor((target - h * hc) / nc + 0.5))
        if 0 <= n <= max_neurons and abs(h * hc + n * nc - target) <= nc / 2 + 1e-9:
            out.append((h, n))
    if not out:
        most = (max_heads * hc + max_neurons * nc) / layout.block_weights
        parts = []
        if not layout.heads_removable:
            parts.append(f"no heads can be removed: {layout.heads_note}")
        if not layout.neurons_removable:
            parts.append(f"no neurons can be removed: {layout.neurons_note}")
        fixed_note = ""
        if head_fraction is not None:
            fixed_note = f" with head_fraction {head_fraction} ({head_range[0]} heads per block)"
        raise HfnetError(
            f"structured sparsity {sparsity} cannot be met{fixed_note} while keeping at least one head and one MLP "
            f"neuron in every block ({layout.num_heads} heads of {layout.weights_per_head} weights, "
            f"{layout.num_neurons} neurons of {nc}); at most {most:.4f} of the prunable block weights can be "
            "removed" + (f" ({'; '.join(parts)})" if parts else "") + "; lower the sparsity or change head_fraction"
        )
    return out


def choose_unit_counts(
    scores: Mapping[str, Tensor], layout: UnitLayout, sparsity: float, head_fraction: float | None = None
) -> tuple[int, int]:
    """Heads and neurons to remove per block: the pair that meets the budget with the least summed unit score.

    The budget is ``sparsity`` of the prunable block weights (:attr:`UnitLayout.prunable_weights`), met to within
    half a neuron. Ties go to fewer heads. With ``head_fraction`` the heads are fixed
    (``round(head_fraction * heads)``) and the neurons fill the rest of the budget.
    """
    candidates = feasible_unit_counts(layout, sparsity, head_fraction)
    heads = torch.sort(scores["heads"].double(), dim=1, stable=True).values.cumsum(dim=1)
    neurons = torch.sort(scores["neurons"].double(), dim=1, stable=True).values.cumsum(dim=1)

    def removed(h: int, n: int) -> float:
        return float((heads[:, h - 1].sum() if h else 0.0) + (neurons[:, n - 1].sum() if n else 0.0))

    best = min(candidates, key=lambda hn: (removed(*hn), hn[0]))
    return best


def unit_masks(scores: Mapping[str, Tensor], heads: int, neurons: int) -> dict[str, Tensor]:
    """Keep-masks removing the ``heads`` lowest-scored heads and ``neurons`` lowest-scored neurons of every block.

    Ties are broken by position (the earlier unit goes first), so every process and rerun picks the same units.
    """
    out = {}
    for kind, k in (("heads", heads), ("neurons", neurons)):
        s = scores[kind].double()
        keep = torch.ones(s.shape, dtype=torch.bool)
        if k > 0:
            order = torch.sort(s, dim=1, stable=True).indices[:, :k]
            keep.scatter_(1, order, False)
        out[kind] = keep
    return out


def structured_masks(
    scores: Mapping[str, Tensor], layout: UnitLayout, sparsity: float, head_fraction: float | None = None
) -> dict[str, Tensor]:
    """:func:`choose_unit_counts` then :func:`unit_masks`: ``{"heads": bool[L, H], "neurons": bool[L, I]}``."""
    return unit_masks(scores, *choose_unit_counts(scores, layout, sparsity, head_fraction))


def _check_masks(keep: Mapping[str, Tensor], layout: UnitLayout) -> tuple[int, int]:
    shapes = {"heads": (layout.num_blocks, layout.num_heads), "neurons": (layout.num_blocks, layout.num_neurons)}
    kept = {}
    for kind, shape in shapes.items():
        if kind not in keep or tuple(keep[kind].shape) != shape:
            got = tuple(keep[kind].shape) if kind in keep else None
            raise HfnetError(f"{kind} keep-mask must have shape {shape} (blocks x units), got {got}")
        counts = keep[kind].sum(dim=1)
        if not bool((counts == counts[0]).all()):
            raise HfnetError(f"every block must keep the same number of {kind}, got {counts.tolist()}")
        if int(counts[0]) < 1:
            raise HfnetError(f"every block must keep at least one of its {kind}")
        kept[kind] = int(counts[0])
    if kept["heads"] < layout.num_heads and not layout.heads_removable:
        raise HfnetError(f"heads cannot be removed from this model: {layout.heads_note}")
    if kept["neurons"] < layout.num_neurons and not layout.neurons_removable:
        raise HfnetError(f"MLP neurons cannot be removed from this model: {layout.neurons_note}")
    return kept["heads"], kept["neurons"]


def _head_rows(keep: Tensor, head_dim: int) -> Tensor:
    return keep.repeat_interleave(head_dim)


def unit_parameter_masks(keep: Mapping[str, Tensor], layout: UnitLayout, classifier) -> dict[str, Tensor]:
    """Per-parameter keep-masks (weights and biases) of the units: zeroing them silences the removed units exactly.

    A removed head's q, k, v rows and biases become zero (its values are zero, so its output is zero whatever the
    attention pattern), and its output-projection columns; a removed neuron's fc1 row and bias (GELU(0) = 0) and its
    fc2 column. Use with :func:`hfnet.pruning.apply_masks` to get the in-memory equivalent of the exported model.
    """
    _check_masks(keep, layout)
    params = dict((classifier.model if hasattr(classifier, "model") else classifier).named_parameters())
    out: dict[str, Tensor] = {}

    def put(name: str, rows: Tensor | None = None, cols: Tensor | None = None) -> None:
        if name not in params:
            return
        m = torch.ones(params[name].shape, dtype=torch.bool)
        if rows is not None:
            m &= rows.view(-1, *([1] * (m.dim() - 1)))
        if cols is not None:
            m &= cols.view(1, -1)
        out[name] = m

    for i, b in enumerate(layout.blocks):
        rows = _head_rows(keep["heads"][i], layout.head_dim)
        if len(b.qkv) == 1:
            rows3 = rows.repeat(3)
            put(f"{b.qkv[0]}.weight", rows=rows3)
            put(f"{b.qkv[0]}.bias", rows=rows3)
        else:
            for name in b.qkv:
                put(f"{name}.weight", rows=rows)
                put(f"{name}.bias", rows=rows)
        put(f"{b.out}.weight", cols=rows)
        n = keep["neurons"][i]
        put(f"{b.fc1}.weight", rows=n)
        put(f"{b.fc1}.bias", rows=n)
        put(f"{b.fc2}.weight", cols=n)
    return out


# ---------------------------------------------------------------------- 3. export
def _mlp_ratio(hidden: int, neurons: int) -> float:
    """A float ``r`` with ``int(hidden * r) == neurons`` (timm's Block builds ``int(dim * mlp_ratio)`` neurons)."""
    r = neurons / hidden
    while int(hidden * r) < neurons:
        r = math.nextafter(r, math.inf)
    while int(hidden * r) > neurons:
        r = math.nextafter(r, -math.inf)
    return r


def _new_model(classifier, layout: UnitLayout, heads: int, neurons: int) -> nn.Module:
    """The classifier's architecture with ``heads`` heads and ``neurons`` MLP neurons per block (fresh weights)."""
    model = classifier.model
    if classifier.library == "transformers":
        config = copy.deepcopy(model.config)
        config.num_attention_heads = heads
        config.head_dim = layout.head_dim  # transformers ViTs read it; hidden_size stays
        config.intermediate_size = neurons
        return type(model)(config)
    import timm

    try:
        from timm.models._input import get_model_args

        args = get_model_args(model)
    except ImportError:  # older timm: the factory's recorded arguments
        args = {**getattr(model, "_model_args", {}), "num_classes": model.num_classes}
    arch = model.pretrained_cfg.get("architecture")
    if not arch:
        raise HfnetError("the timm model has no architecture name in its pretrained_cfg; cannot rebuild it")
    args = {**args, "mlp_ratio": _mlp_ratio(layout.hidden_size, neurons)}
    if heads != layout.num_heads:
        args["num_heads"] = heads
    new = timm.create_model(arch, pretrained=False, **args)
    new.pretrained_cfg = copy.deepcopy(dict(model.pretrained_cfg))
    return new


@torch.no_grad()
def _sliced_state_dict(model: nn.Module, keep: Mapping[str, Tensor], layout: UnitLayout) -> dict[str, Tensor]:
    state = {k: v.detach() for k, v in model.state_dict().items()}

    def take(name: str, rows: Tensor | None = None, cols: Tensor | None = None) -> None:
        for suffix in (".weight", ".bias"):
            key = name + suffix
            if key not in state:
                continue
            t = state[key]
            if rows is not None:
                t = t[rows.to(t.device)]
            if cols is not None and suffix == ".weight":
                t = t[:, cols.to(t.device)]
            state[key] = t.clone()

    for i, b in enumerate(layout.blocks):
        rows = _head_rows(keep["heads"][i], layout.head_dim)
        if len(b.qkv) == 1:
            take(b.qkv[0], rows=rows.repeat(3))
        else:
            for name in b.qkv:
                take(name, rows=rows)
        take(b.out, cols=rows)
        n = keep["neurons"][i]
        take(b.fc1, rows=n)
        take(b.fc2, cols=n)
    return state


def build_pruned_model(classifier, keep: Mapping[str, Tensor], layout: UnitLayout) -> nn.Module:
    """A new model of the classifier's class without the removed heads and neurons (the classifier is unchanged).

    Built from the library's own config (so ``from_pretrained`` / ``timm.create_model`` rebuild the same shapes),
    with every kept weight copied in exactly; same device, dtype and train/eval mode as the original.
    """
    heads, neurons = _check_masks(keep, layout)
    old = classifier.model
    ref = next(old.parameters())
    new = _new_model(classifier, layout, heads, neurons)
    state = _sliced_state_dict(old, keep, layout)
    try:
        new.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise HfnetError(
            f"{type(old).__name__} rebuilt with {heads} heads and {neurons} neurons per block does not take the kept "
            f"weights: {str(e).splitlines()[0][:300]}"
        ) from e
    new.to(device=ref.device, dtype=ref.dtype)
    for (_, m_new), (_, m_old) in zip(new.named_modules(), old.named_modules()):
        m_new.training = m_old.training
    return new


@dataclass
class StructuredReport:
    """What :func:`remove_units` did: units per block before/after and parameter counts."""

    heads_before: int
    heads_after: int
    neurons_before: int
    neurons_after: int
    params_before: int
    params_after: int
    prunable_weights: int
    pruned_weights: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "heads_per_block_before": self.heads_before,
            "heads_per_block_after": self.heads_after,
            "neurons_per_block_before": self.neurons_before,
            "neurons_per_block_after": self.neurons_after,
            "params_before": self.params_before,
            "params_after": self.params_after,
            "prunable_weights": self.prunable_weights,
            "pruned_weights": self.pruned_weights,
            "sparsity_prunable": self.pruned_weights / max(self.prunable_weights, 1),
            "params_ratio": self.params_after / max(self.params_before, 1),
        }


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def report(layout: UnitLayout, keep: Mapping[str, Tensor], params_before: int, params_after: int) -> StructuredReport:
    heads, neurons = _check_masks(keep, layout)
    removed = layout.num_blocks * (
        (layout.num_heads - heads) * layout.weights_per_head
        + (layout.num_neurons - neurons) * layout.weights_per_neuron
    )
    return StructuredReport(
        layout.num_heads, heads, layout.num_neurons, neurons, params_before, params_after,
        layout.prunable_weights, removed,
    )  # fmt: skip


def remove_units(classifier, keep: Mapping[str, Tensor], layout: UnitLayout) -> StructuredReport:
    """Replace ``classifier.model`` by the smaller model of :func:`build_pruned_model`; returns what changed."""
    before = count_parameters(classifier.model)
    new = build_pruned_model(classifier, keep, layout)
    swap(classifier, new)
    return report(layout, keep, before, count_parameters(new))


def swap(classifier, model: nn.Module) -> None:
    """Put ``model`` (same class, smaller) into the classifier in place of its current model."""
    classifier.model = model
    classifier.config = getattr(model, "config", None)


# ---------------------------------------------------------------------- latency
@torch.no_grad()
def measure_latency(models: Mapping[str, nn.Module], inputs: Tensor, *, repeats: int = 10, warmup: int = 2) -> dict:
    """Median seconds per forward of each model on ``inputs``, runs interleaved (so load drifts hit all alike).

    Returns ``{name: median seconds}``. Models run in eval mode (restored afterwards).
    """
    from hfnet._modelstate import eval_mode

    def call(model: nn.Module) -> Any:
        out = model(pixel_values=inputs) if hasattr(model, "config") else model(inputs)
        if inputs.device.type == "cuda":
            torch.cuda.synchronize()
        return out

    times: dict[str, list[float]] = {name: [] for name in models}
    modes = [eval_mode(m) for m in models.values()]
    for mode in modes:
        mode.__enter__()
    try:
        for _ in range(warmup):
            for m in models.values():
                call(m)
        for _ in range(repeats):
            for name, m in models.items():
                t0 = time.perf_counter()
                call(m)
                times[name].append(time.perf_counter() - t0)
    finally:
        for mode in reversed(modes):
            mode.__exit__(None, None, None)
    return {name: statistics.median(t) for name, t in times.items()}
