"""The permutation structure of a network, traced from its graph (the first half of Git Re-Basin).

Hidden units of a network can be permuted without changing the function it computes. :func:`permutation_spec`
exports the model with ``torch.export`` and follows channels through the ATen graph. Every convolution / linear
output opens a channel "space"; BatchNorm, activations, pooling and flatten carry it; residual additions (and other
elementwise binary ops) unite the spaces they combine; the input, the output (logits) and every op the tracer does
not understand fix the spaces they touch (they stay unpermuted, so a permuted model always computes the same
function). :mod:`hfnet.merging.align` matches two models' weights over these spaces.
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

__all__ = [
    "PermutationSpec",
    "apply_permutation",
    "classifier_permutation_spec",
    "permutation_spec",
    "permute_tensor",
    "random_permutation",
]

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


_CONV_OPS = ("conv2d", "conv1d", "convolution")
_BATCH_NORM_OPS = ("batch_norm", "_native_batch_norm_legit_no_training", "_native_batch_norm_legit_functional")
_REDUCE_OPS = ("mean", "sum", "amax")
_RESHAPE_OPS = ("flatten", "view", "reshape", "_unsafe_view", "squeeze", "unsqueeze")


def _shape(node) -> tuple[int, ...] | None:
    val = node.meta.get("val") if hasattr(node, "meta") else None
    return tuple(int(s) for s in val.shape) if isinstance(val, Tensor) else None


class _ChannelTracer:
    """Union-find over channel spaces, fed one ATen node at a time (one method per family of ops)."""

    def __init__(self, param_names: dict[str, str]) -> None:
        self.param_names = param_names
        self.spaces: list[_Space] = []
        self.parent: list[int] = []
        # node name -> (space id, channel dim, factor) for tensors whose channel layout is followed
        self.info: dict[str, tuple[int, int, int]] = {}
        # parameter / buffer name -> [(dim, space id, factor)]
        self.axes: dict[str, list[tuple[int, int, int]]] = {}

    # -- spaces
    def new_space(self, size: int, fixed: bool = False) -> int:
        self.spaces.append(_Space(size, fixed))
        self.parent.append(len(self.parent))
        return len(self.parent) - 1

    def find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri == rj:
            return
        if self.spaces[ri].size != self.spaces[rj].size:
            self.spaces[ri].fixed = self.spaces[rj].fixed = True
        self.parent[rj] = ri
        self.spaces[ri].fixed = self.spaces[ri].fixed or self.spaces[rj].fixed

    def fix(self, i: int) -> None:
        self.spaces[self.find(i)].fixed = True

    def record(self, node, dim: int, space: int, factor: int = 1) -> None:
        name = self.param_names.get(node.name) if hasattr(node, "name") else None
        if name is not None:
            self.axes.setdefault(name, []).append((dim, space, factor))

    def fix_inputs(self, node) -> None:
        for arg in node.all_input_nodes:
            if arg.name in self.info:
                self.fix(self.info[arg.name][0])

    def give_fixed(self, node) -> None:
        shp = _shape(node)
        if shp is not None and len(shp) >= 2:
            self.info[node.name] = (self.new_space(shp[1], fixed=True), 1, 1)

    def opaque(self, node) -> None:
        """An op the tracer does not follow: the channels it reads and writes stay unpermuted."""
        self.fix_inputs(node)
        self.give_fixed(node)

    # -- one node
    def visit(self, node) -> None:
        op = _op_name(node.target)
        args = node.args
        src = self.info.get(args[0].name) if args and hasattr(args[0], "name") else None
        if op in _CONV_OPS and src is not None:
            self.conv(node, op, src)
        elif op in _BATCH_NORM_OPS and src is not None and src[1] == 1 and src[2] == 1:
            for tensor_arg in args[1:5]:
                if hasattr(tensor_arg, "name"):
                    self.record(tensor_arg, 0, src[0])
            self.info[node.name] = src
        elif op == "linear" and src is not None:
            self.linear(node, src)
        elif op in _CARRY_OPS and src is not None:
            out_shape = _shape(node)
            if out_shape is not None and len(out_shape) > src[1]:
                self.info[node.name] = src
            else:
                self.fix(src[0])
        elif op in _REDUCE_OPS and src is not None:
            self.reduce(node, src)
        elif op in _RESHAPE_OPS and src is not None:
            self.reshape(node, src)
        elif op in _BINARY_OPS:
            self.binary(node)
        elif op == "getitem" and src is not None and args[1] == 0:
            self.info[node.name] = src
        else:
            if op not in ("getitem", "size", "sym_size"):
                logger.debug("alignment: op %s fixes the channels it touches", op)
            self.opaque(node)

    def conv(self, node, op: str, src: tuple[int, int, int]) -> None:
        args = node.args
        weight = args[1]
        bias = args[2] if len(args) > 2 else None
        if op == "convolution":
            groups = int(args[8]) if len(args) > 8 else 1
            transposed = bool(args[6]) if len(args) > 6 else False
        else:
            groups = int(args[6]) if len(args) > 6 else int(node.kwargs.get("groups", 1))
            transposed = False
        out_ch, in_per_group = _shape(weight)[:2]
        in_space, _, in_factor = src
        in_ch = self.spaces[self.find(in_space)].size
        if transposed:
            self.fix(in_space)
            out = self.new_space(out_ch, fixed=True)
        elif groups == 1 and in_factor == 1:
            out = self.new_space(out_ch)
            self.record(weight, 1, in_space)
        elif groups == in_ch == out_ch and in_per_group == 1 and in_factor == 1:
            out = in_space  # depthwise: output channel c reads input channel c
        else:
            self.fix(in_space)
            out = self.new_space(out_ch, fixed=True)
        self.record(weight, 0, out)
        if bias is not None and hasattr(bias, "name"):
            self.record(bias, 0, out)
        self.info[node.name] = (out, 1, 1)

    def linear(self, node, src: tuple[int, int, int]) -> None:
        args = node.args
        weight, bias = args[1], args[2] if len(args) > 2 else None
        in_shape = _shape(args[0])
        in_space, ch_dim, factor = src
        if ch_dim == len(in_shape) - 1 or (ch_dim == 1 and len(in_shape) == 2):
            self.record(weight, 1, in_space, factor)
        else:
            self.fix(in_space)
        out = self.new_space(_shape(weight)[0])
        self.record(weight, 0, out)
        if bias is not None and hasattr(bias, "name"):
            self.record(bias, 0, out)
        self.info[node.name] = (out, len(in_shape) - 1, 1)

    def reduce(self, node, src: tuple[int, int, int]) -> None:
        args = node.args
        dims = args[1] if len(args) > 1 else None
        keep = (args[2] if len(args) > 2 else False) or node.kwargs.get("keepdim", False)
        in_shape = _shape(args[0])
        dims = [d % len(in_shape) for d in (dims if isinstance(dims, list | tuple) else [dims])] if dims else None
        if dims and src[1] not in dims and (keep or all(d > src[1] for d in dims)) and src[2] == 1:
            self.info[node.name] = src
        else:
            self.fix(src[0])

    def reshape(self, node, src: tuple[int, int, int]) -> None:
        in_shape, out_shape = _shape(node.args[0]), _shape(node)
        space, ch_dim, factor = src
        if ch_dim == 1 and out_shape is not None and len(out_shape) == 2 and out_shape[0] == in_shape[0]:
            if len(in_shape) >= 2:
                # [B, C, H, W] -> [B, C*H*W]: channel-major, so each channel owns a block of H*W entries
                self.info[node.name] = (space, 1, factor * int(np.prod(in_shape[2:], dtype=np.int64)))
                return
        if out_shape == in_shape:
            self.info[node.name] = src
        else:
            self.fix(space)

    def binary(self, node) -> None:
        args = node.args
        operands = [self.info[a.name] for a in args[:2] if hasattr(a, "name") and a.name in self.info]
        tensor_args = [a for a in args[:2] if hasattr(a, "name")]
        if not operands or len(operands) != len(tensor_args):
            self.opaque(node)
            return
        first = operands[0]
        for other in operands[1:]:
            if other[1:] == first[1:]:
                self.union(first[0], other[0])
            else:
                self.fix(first[0])
                self.fix(other[0])
        self.info[node.name] = first

    # -- result
    def spec(self) -> PermutationSpec:
        """Tensors used in several places keep one entry per dim; collapse to roots, drop fixed spaces."""
        spec = PermutationSpec()
        root_ids: dict[int, int] = {}
        for name, entries in self.axes.items():
            resolved = []
            for dim, space, factor in entries:
                root = self.find(space)
                if self.spaces[root].fixed:
                    continue
                pid = root_ids.setdefault(root, len(root_ids))
                spec.sizes[pid] = self.spaces[root].size
                if (dim, pid, factor) not in resolved:
                    resolved.append((dim, pid, factor))
            if resolved:
                spec.axes[name] = resolved
        return spec


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
    tracer = _ChannelTracer(param_names)
    for node in exported.graph.nodes:
        if node.op == "placeholder":
            if node.name in user_inputs:
                tracer.give_fixed(node)
        elif node.op == "output":
            tracer.fix_inputs(node)
        elif node.op == "call_function":
            tracer.visit(node)
    spec = tracer.spec()
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
