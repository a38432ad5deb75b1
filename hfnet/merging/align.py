"""Permutation alignment by weight matching (Git Re-Basin, Ainsworth et al. 2023, https://arxiv.org/abs/2209.04836).

Hidden units of a network can be permuted without changing the function it computes. Two independently trained
networks learn similar features in a seed-dependent order (what seed 000 observes in its filter matrices), so
averaging them unit by unit mixes unrelated features. Weight matching permutes model B's units so that its weights
are as close as possible to model A's, layer by layer, before merging.

The permutation structure is derived from the model itself: :func:`permutation_spec` exports the model with
``torch.export`` and follows channels through the ATen graph. Every convolution / linear output opens a channel
"space"; BatchNorm, activations, pooling and flatten carry it; residual additions (and other elementwise binary ops)
unite the spaces they combine; the input, the output (logits) and every op the tracer does not understand fix the
spaces they touch (they stay unpermuted, so the aligned model always computes the same function).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from hfnet._modelstate import eval_mode
from hfnet.errors import HfnetError

logger = logging.getLogger(__name__)

# ops that keep the channel layout of their first tensor argument
_CARRY_OPS = {
    "relu",
    "relu_",
    "gelu",
    "silu",
    "silu_",
    "sigmoid",
    "tanh",
    "hardtanh",
    "hardtanh_",
    "hardswish",
    "hardswish_",
    "hardsigmoid",
    "leaky_relu",
    "leaky_relu_",
    "elu",
    "mish",
    "dropout",
    "dropout_",
    "feature_dropout",
    "max_pool2d",
    "max_pool1d",
    "avg_pool2d",
    "adaptive_avg_pool2d",
    "adaptive_max_pool2d",
    "clone",
    "contiguous",
    "alias",
    "detach",
    "identity",
    "_to_copy",
    "to",
    "type_as",
}
# elementwise binary ops: tensor operands must share their channel space
_BINARY_OPS = {"add", "add_", "mul", "mul_", "sub", "sub_", "div", "div_"}


@dataclass
class _Space:
    size: int
    fixed: bool = False


@dataclass
class PermutationSpec:
    """Which tensor dimensions every permutation acts on.

    Attributes:
        sizes: permutation id -> number of channels.
        axes: tensor name (``state_dict`` name) -> list of ``(dim, permutation id, factor)``: dimension ``dim`` of
            the tensor is laid out as ``[channels, factor]`` (factor > 1 after flattening a feature map into a
            Linear layer) and its channel index is permuted.
    """

    sizes: dict[int, int] = field(default_factory=dict)
    axes: dict[str, list[tuple[int, int, int]]] = field(default_factory=dict)

    def tensors_of(self, perm_id: int) -> list[tuple[str, int, int]]:
        return [(name, dim, f) for name, entries in self.axes.items() for dim, p, f in entries if p == perm_id]

    def describe(self) -> str:
        return f"{len(self.sizes)} permutations over {len(self.axes)} tensors (sizes {sorted(self.sizes.values())})"


def _op_name(target) -> str:
    name = getattr(target, "__name__", str(target))
    return name.split(".")[0]


def permutation_spec(model: nn.Module, example_input: Tensor, *, prefix: str = "") -> PermutationSpec:
    """Derive the permutation structure of ``model`` by exporting it with ``torch.export`` on ``example_input``.

    Works for convolutional / MLP networks built from conv2d, batch_norm, linear, activations, pooling, flatten and
    residual additions (plain CNNs, timm and transformers ResNets). Anything else fixes the channels it touches.
    """
    try:
        with eval_mode(model):
            exported = torch.export.export(model, (example_input,), strict=False)
    except Exception as e:  # noqa: BLE001 - surface as a user-facing error with the cause
        raise HfnetError(f"cannot trace {type(model).__name__} with torch.export for alignment: {e}") from e
    sig = exported.graph_signature
    param_names = {
        node: name[len(prefix) :] if name.startswith(prefix) else name
        for node, name in {**sig.inputs_to_parameters, **sig.inputs_to_buffers}.items()
    }
    user_inputs = set(sig.user_inputs)

    spaces: list[_Space] = []
    parent: list[int] = []

    def new_space(size: int, fixed: bool = False) -> int:
        spaces.append(_Space(size, fixed))
        parent.append(len(parent))
        return len(parent) - 1

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        ri, rj = find(i), find(j)
        if ri == rj:
            return
        if spaces[ri].size != spaces[rj].size:
            spaces[ri].fixed = spaces[rj].fixed = True
        parent[rj] = ri
        spaces[ri].fixed = spaces[ri].fixed or spaces[rj].fixed

    def fix(i: int) -> None:
        spaces[find(i)].fixed = True

    # node -> (space id, channel dim, factor) for tensors whose channel layout we follow
    info: dict[str, tuple[int, int, int]] = {}
    axes: dict[str, list[tuple[int, int, int]]] = {}

    def shape(node) -> tuple[int, ...] | None:
        val = node.meta.get("val") if hasattr(node, "meta") else None
        return tuple(int(s) for s in val.shape) if isinstance(val, Tensor) else None

    def record(node, dim: int, space: int, factor: int = 1) -> None:
        name = param_names.get(node.name) if hasattr(node, "name") else None
        if name is not None:
            axes.setdefault(name, []).append((dim, space, factor))

    def fix_inputs(node) -> None:
        for arg in node.all_input_nodes:
            if arg.name in info:
                fix(info[arg.name][0])

    def give_fixed(node) -> None:
        shp = shape(node)
        if shp is not None and len(shp) >= 2:
            info[node.name] = (new_space(shp[1], fixed=True), 1, 1)

    for node in exported.graph.nodes:
        if node.op == "placeholder":
            if node.name in user_inputs:
                give_fixed(node)
            continue
        if node.op == "output":
            fix_inputs(node)
            continue
        if node.op != "call_function":
            continue
        op = _op_name(node.target)
        args = node.args
        src = info.get(args[0].name) if args and hasattr(args[0], "name") else None
        if op in ("conv2d", "conv1d", "convolution") and src is not None:
            weight = args[1]
            bias = args[2] if len(args) > 2 else None
            if op == "convolution":
                groups = int(args[8]) if len(args) > 8 else 1
                transposed = bool(args[6]) if len(args) > 6 else False
            else:
                groups = int(args[6]) if len(args) > 6 else int(node.kwargs.get("groups", 1))
                transposed = False
            w_shape = shape(weight)
            out_ch, in_per_group = w_shape[0], w_shape[1]
            in_space, _, in_factor = src
            in_ch = spaces[find(in_space)].size
            if transposed:
                fix(in_space)
                out = new_space(out_ch, fixed=True)
            elif groups == 1 and in_factor == 1:
                out = new_space(out_ch)
                record(weight, 1, in_space)
            elif groups == in_ch == out_ch and in_per_group == 1 and in_factor == 1:
                out = in_space  # depthwise: output channel c reads input channel c
            else:
                fix(in_space)
                out = new_space(out_ch, fixed=True)
            record(weight, 0, out)
            if bias is not None and hasattr(bias, "name"):
                record(bias, 0, out)
            info[node.name] = (out, 1, 1)
        elif op in ("batch_norm", "_native_batch_norm_legit_no_training", "_native_batch_norm_legit_functional") and (
            src is not None and src[1] == 1 and src[2] == 1
        ):
            for tensor_arg in args[1:5]:
                if hasattr(tensor_arg, "name"):
                    record(tensor_arg, 0, src[0])
            info[node.name] = src
        elif op == "linear" and src is not None:
            weight, bias = args[1], args[2] if len(args) > 2 else None
            in_shape = shape(args[0])
            in_space, ch_dim, factor = src
            out_features = shape(weight)[0]
            if ch_dim == len(in_shape) - 1 or (ch_dim == 1 and len(in_shape) == 2):
                record(weight, 1, in_space, factor)
            else:
                fix(in_space)
            out = new_space(out_features)
            record(weight, 0, out)
            if bias is not None and hasattr(bias, "name"):
                record(bias, 0, out)
            info[node.name] = (out, len(in_shape) - 1, 1)
        elif op in _CARRY_OPS and src is not None:
            out_shape = shape(node)
            if out_shape is not None and len(out_shape) > src[1]:
                info[node.name] = src
            else:
                fix(src[0])
        elif op in ("mean", "sum", "amax") and src is not None:
            dims = args[1] if len(args) > 1 else None
            keep = (args[2] if len(args) > 2 else False) or node.kwargs.get("keepdim", False)
            in_shape = shape(args[0])
            dims = [d % len(in_shape) for d in (dims if isinstance(dims, list | tuple) else [dims])] if dims else None
            if dims and src[1] not in dims and (keep or all(d > src[1] for d in dims)) and src[2] == 1:
                info[node.name] = src
            else:
                fix(src[0])
        elif op in ("flatten", "view", "reshape", "_unsafe_view", "squeeze", "unsqueeze") and src is not None:
            in_shape, out_shape = shape(args[0]), shape(node)
            space, ch_dim, factor = src
            if (
                ch_dim == 1
                and out_shape is not None
                and len(out_shape) == 2
                and out_shape[0] == in_shape[0]
                and len(in_shape) >= 2
            ):
                # [B, C, H, W] -> [B, C*H*W]: channel-major, so each channel owns a block of H*W entries
                info[node.name] = (space, 1, factor * int(np.prod(in_shape[2:], dtype=np.int64)))
            elif out_shape == in_shape:
                info[node.name] = src
            else:
                fix(space)
        elif op in _BINARY_OPS:
            operands = [info[a.name] for a in args[:2] if hasattr(a, "name") and a.name in info]
            tensor_args = [a for a in args[:2] if hasattr(a, "name")]
            if operands and len(operands) == len(tensor_args):
                first = operands[0]
                for other in operands[1:]:
                    if other[1:] == first[1:]:
                        union(first[0], other[0])
                    else:
                        fix(first[0])
                        fix(other[0])
                info[node.name] = first
            else:
                fix_inputs(node)
                give_fixed(node)
        elif op == "getitem" and src is not None and args[1] == 0:
            info[node.name] = src
        else:
            if op not in ("getitem", "size", "sym_size"):
                logger.debug("alignment: op %s fixes the channels it touches", op)
            fix_inputs(node)
            give_fixed(node)

    # tensors used in several places keep one entry per dim; collapse to roots, drop fixed spaces
    spec = PermutationSpec()
    root_ids: dict[int, int] = {}
    for name, entries in axes.items():
        resolved = []
        for dim, space, factor in entries:
            root = find(space)
            if spaces[root].fixed:
                continue
            pid = root_ids.setdefault(root, len(root_ids))
            spec.sizes[pid] = spaces[root].size
            if (dim, pid, factor) not in resolved:
                resolved.append((dim, pid, factor))
        if resolved:
            spec.axes[name] = resolved
    logger.info("alignment: %s", spec.describe())
    return spec


class _Logits(nn.Module):
    """``classifier.logits`` as a module, so that ``torch.export`` sees the raw library model's parameters."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, pixel_values: Tensor) -> Tensor:
        return self.classifier.logits(pixel_values)


def classifier_permutation_spec(classifier, batch_size: int = 2) -> PermutationSpec:
    """:func:`permutation_spec` of a :class:`hfnet.HubClassifier`, named as in ``classifier.model.state_dict()``."""
    h, w = classifier.preprocessing.image_size
    example = torch.zeros(batch_size, 3, h, w)
    return permutation_spec(_Logits(classifier), example, prefix="classifier.model.")


# ---------------------------------------------------------------------- permuting tensors
def _permute_dim(tensor: Tensor, dim: int, perm: Tensor, factor: int) -> Tensor:
    if factor == 1:
        return tensor.index_select(dim, perm)
    shape = tensor.shape
    split = tensor.reshape(*shape[:dim], -1, factor, *shape[dim + 1 :])
    return split.index_select(dim, perm).reshape(shape)


def permute_tensor(
    name: str, tensor: Tensor, spec: PermutationSpec, perms: dict[int, Tensor], skip: int | None = None
) -> Tensor:
    """Apply ``perms`` to every permuted dimension of tensor ``name`` (except permutation ``skip``)."""
    for dim, pid, factor in spec.axes.get(name, []):
        if pid != skip and pid in perms:
            tensor = _permute_dim(tensor, dim, perms[pid], factor)
    return tensor


def apply_permutation(
    state_dict: dict[str, Tensor], spec: PermutationSpec, perms: dict[int, Tensor]
) -> dict[str, Tensor]:
    """A new state dict with every tensor's channels permuted by ``perms`` (tensors outside the spec unchanged)."""
    return {name: permute_tensor(name, t, spec, perms) for name, t in state_dict.items()}


def random_permutation(spec: PermutationSpec, seed: int = 0) -> dict[int, Tensor]:
    """A random permutation for every space of ``spec`` (for tests: permuting must not change the function)."""
    g = torch.Generator().manual_seed(seed)
    return {pid: torch.randperm(n, generator=g) for pid, n in spec.sizes.items()}


# ---------------------------------------------------------------------- weight matching
def _flat_along(tensor: Tensor, dim: int, factor: int) -> Tensor:
    t = tensor.to(torch.float32)
    if factor > 1:
        shape = t.shape
        t = t.reshape(*shape[:dim], -1, factor, *shape[dim + 1 :])
    return t.movedim(dim, 0).reshape(t.shape[dim], -1)


@dataclass
class AlignmentResult:
    """Permutations mapping model B onto model A, and how well they match."""

    perms: dict[int, Tensor]
    spec: PermutationSpec
    iterations: int
    similarity_before: float
    similarity_after: float


def weight_matching(
    spec: PermutationSpec,
    state_a: dict[str, Tensor],
    state_b: dict[str, Tensor],
    *,
    max_iter: int = 100,
    seed: int = 0,
) -> AlignmentResult:
    """Find permutations of B's channels maximising ``sum_layers <W_A, P W_B P'^T>`` (Git Re-Basin, Algorithm 1).

    Coordinate descent: each permutation in turn is solved exactly as a linear assignment problem with the others
    held fixed, until no permutation changes. Tensors missing from either model or with different shapes (heads for
    different label sets) are left out of the objective; integer buffers are ignored.
    """
    from scipy.optimize import linear_sum_assignment

    usable = {
        name
        for name in spec.axes
        if name in state_a
        and name in state_b
        and state_a[name].shape == state_b[name].shape
        and state_a[name].is_floating_point()
        and not name.endswith(("running_mean", "running_var"))
    }
    perms = {pid: torch.arange(n) for pid, n in spec.sizes.items()}
    by_perm = {pid: [t for t in spec.tensors_of(pid) if t[0] in usable] for pid in spec.sizes}
    rng = np.random.default_rng(seed)

    def total_similarity() -> float:
        return float(
            sum(
                (state_a[n].to(torch.float32) * permute_tensor(n, state_b[n], spec, perms).to(torch.float32)).sum()
                for n in usable
            )
        )

    before = total_similarity()
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 - reported below
        changed = False
        for pid in rng.permutation(list(spec.sizes)):
            pid = int(pid)
            n = spec.sizes[pid]
            cost = torch.zeros(n, n)
            for name, dim, factor in by_perm[pid]:
                wa = _flat_along(state_a[name], dim, factor)
                wb = _flat_along(permute_tensor(name, state_b[name], spec, perms, skip=pid), dim, factor)
                cost += wa @ wb.T
            if not by_perm[pid]:
                continue
            _, cols = linear_sum_assignment(cost.numpy(), maximize=True)
            new = torch.as_tensor(cols, dtype=torch.long)
            old_score = cost[torch.arange(n), perms[pid]].sum()
            new_score = cost[torch.arange(n), new].sum()
            if new_score > old_score + 1e-9 * abs(float(old_score)) + 1e-12:
                perms[pid] = new
                changed = True
        if not changed:
            break
    after = total_similarity()
    return AlignmentResult(perms, spec, iterations, before, after)


def align_state_dict(
    model: nn.Module,
    state_a: dict[str, Tensor],
    state_b: dict[str, Tensor],
    example_input: Tensor,
    *,
    max_iter: int = 100,
    seed: int = 0,
) -> tuple[dict[str, Tensor], AlignmentResult]:
    """Permute ``state_b`` (same architecture as ``model``) to match ``state_a``; returns it and the alignment."""
    spec = permutation_spec(model, example_input)
    result = weight_matching(spec, state_a, state_b, max_iter=max_iter, seed=seed)
    return apply_permutation(state_b, spec, result.perms), result
