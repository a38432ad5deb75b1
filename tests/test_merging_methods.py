"""Pure merge functions: invariants that must hold for every tensor."""

from __future__ import annotations

import pytest
import torch

from hfnet.errors import HfnetError
from hfnet.merging import (
    MERGE_METHODS,
    average_merge,
    get_merge_method,
    slerp_merge,
    task_arithmetic_merge,
    ties_merge,
)


@pytest.fixture
def tensors():
    g = torch.Generator().manual_seed(0)
    return [torch.randn(4, 3, 3, 3, generator=g) for _ in range(3)]


def test_registry_has_the_four_methods():
    assert {"average", "task_arithmetic", "ties", "slerp"} <= set(MERGE_METHODS)


def test_unknown_method_names_the_choices():
    with pytest.raises(HfnetError, match="unknown merge method 'soup'.*average"):
        get_merge_method("soup")


@pytest.mark.parametrize("name", ["average", "slerp"])
def test_self_merge_is_identity(tensors, name):
    a = tensors[0]
    out = get_merge_method(name)([a, a.clone()])
    torch.testing.assert_close(out, a, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["task_arithmetic", "ties"])
def test_self_merge_with_base_is_identity(tensors, name):
    a, base = tensors[0], tensors[1]
    out = get_merge_method(name)([a, a.clone()], [0.5, 0.5], base, **({"density": 1.0} if name == "ties" else {}))
    torch.testing.assert_close(out, a, rtol=1e-5, atol=1e-5)


def test_average_equals_hand_mean(tensors):
    a, b, c = tensors
    torch.testing.assert_close(average_merge([a, b]), (a + b) / 2)
    torch.testing.assert_close(average_merge([a, b, c], [1, 2, 1]), (a + 2 * b + c) / 4)


def test_average_keeps_dtype(tensors):
    a, b = (t.half() for t in tensors[:2])
    assert average_merge([a, b]).dtype == torch.float16


def test_weight_count_must_match(tensors):
    with pytest.raises(HfnetError, match="2 weights given for 3 models"):
        average_merge(tensors, [0.5, 0.5])


def test_zero_weight_sum(tensors):
    with pytest.raises(HfnetError, match="sum to 0"):
        average_merge(tensors[:2], [1.0, -1.0])


def test_task_arithmetic_formula(tensors):
    a, b, base = tensors
    out = task_arithmetic_merge([a, b], base, [0.3, 0.7], scale=0.5)
    torch.testing.assert_close(out, base + 0.5 * (0.3 * (a - base) + 0.7 * (b - base)))


def test_task_arithmetic_needs_base(tensors):
    with pytest.raises(HfnetError, match="needs a base"):
        task_arithmetic_merge(tensors[:2], None)


def test_ties_sign_election_and_disjoint_mean():
    base = torch.zeros(4)
    a = torch.tensor([1.0, -2.0, 3.0, 0.0])
    b = torch.tensor([3.0, 1.0, -1.0, 0.0])
    out = ties_merge([a, b], base, density=1.0)
    # entry 0: both positive -> mean 2; entry 1: sum -1 -> only a (-2); entry 2: sum 2 -> only a (3); entry 3: 0
    torch.testing.assert_close(out, torch.tensor([2.0, -2.0, 3.0, 0.0]))


def test_ties_trims_to_density():
    base = torch.zeros(10)
    a = torch.arange(1.0, 11.0)
    out = ties_merge([a, a.clone()], base, density=0.3)
    assert int((out != 0).sum()) == 3
    torch.testing.assert_close(out[-3:], a[-3:])


def test_ties_rejects_bad_density(tensors):
    with pytest.raises(HfnetError, match="density"):
        ties_merge(tensors[:2], tensors[2], density=0.0)


def test_slerp_endpoints_and_norm(tensors):
    a, b = tensors[:2]
    torch.testing.assert_close(slerp_merge([a, b], t=0.0), a, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(slerp_merge([a, b], t=1.0), b, rtol=1e-5, atol=1e-5)
    mid = slerp_merge([a, b], t=0.5)
    assert abs(mid.norm() - (a.norm() + b.norm()) / 2) < 1e-4
    # slerp of orthogonal unit vectors at t=0.5 lies at 45 degrees
    x, y = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    torch.testing.assert_close(slerp_merge([x, y]), torch.tensor([2**-0.5, 2**-0.5]))


def test_slerp_takes_two_models_only(tensors):
    with pytest.raises(HfnetError, match="exactly two"):
        slerp_merge(tensors)


def test_method_rejects_unknown_option(tensors):
    with pytest.raises(HfnetError, match="takes no option"):
        get_merge_method("average")(tensors, density=0.5)
