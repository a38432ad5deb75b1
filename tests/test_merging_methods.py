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
    mid = slerp_merge([a, b], t=0.5, norm="interpolate")
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


def test_ties_values_weights_density_and_scale_by_hand():
    base = torch.ones(4)
    taus = [
        torch.tensor([4.0, -1.0, 0.5, -3.0]),
        torch.tensor([-2.0, 2.0, 1.0, 0.1]),
        torch.tensor([1.0, -3.0, 2.5, 0.2]),
    ]
    # density 0.5 per tensor keeps 2 of 4: [4, 0, 0, -3], [-2, 2, 0, 0], [0, -3, 2.5, 0]
    # weights 1, 2, 1 -> weighted sum [0, 1, 2.5, -3]: signs 0, +, +, -
    # agreeing entries: -, 2 (model 2, weight 2), 2.5 (model 3), -3 (model 1) -> disjoint weighted mean [0, 2, 2.5, -3]
    out = ties_merge([base + t for t in taus], base, [1.0, 2.0, 1.0], density=0.5, scale=0.7)
    torch.testing.assert_close(out, base + 0.7 * torch.tensor([0.0, 2.0, 2.5, -3.0]))
    # disjoint mean, not a plain sum: two agreeing models with weights 1 and 3 give (1 * 2 + 3 * 4) / 4
    out = ties_merge([base + 2, base + 4], base, [1.0, 3.0], density=1.0)
    torch.testing.assert_close(out, base + 3.5)


def test_ties_whole_model_trim_differs_from_per_tensor():
    from hfnet.merging.ties import model_trim_threshold

    base = {"A": torch.zeros(4), "B": torch.zeros(4)}
    model = {"A": torch.tensor([10.0, 9.0, 1.0, 0.5]), "B": torch.tensor([0.2, 0.3, 0.4, 0.1])}
    threshold = model_trim_threshold([model[k] - base[k] for k in model], density=0.5)
    assert threshold == pytest.approx(0.4)  # the 4 largest of all 8 entries are all in A
    whole = {k: ties_merge([model[k]], base[k], density=0.5, trim="model", thresholds=[threshold]) for k in model}
    torch.testing.assert_close(whole["A"], model["A"])
    torch.testing.assert_close(whole["B"], torch.zeros(4))
    per_tensor = {k: ties_merge([model[k]], base[k], density=0.5) for k in model}  # mergekit: 2 of 4 in each
    torch.testing.assert_close(per_tensor["A"], torch.tensor([10.0, 9.0, 0.0, 0.0]))
    torch.testing.assert_close(per_tensor["B"], torch.tensor([0.0, 0.3, 0.4, 0.0]))
    with pytest.raises(HfnetError, match="trim='model' needs"):
        ties_merge([model["A"]], base["A"], trim="model")
    with pytest.raises(HfnetError, match="trim must be"):
        ties_merge([model["A"]], base["A"], trim="layer")


def _mergekit_slerp(t, v0, v1, dot_threshold=0.9995, eps=1e-8):
    """mergekit/merge_methods/slerp.py's ``slerp`` transcribed (numpy)."""
    import numpy as np

    v0, v1 = v0.double().numpy(), v1.double().numpy()
    c0, c1 = v0.copy(), v1.copy()
    n0, n1 = np.linalg.norm(v0), np.linalg.norm(v1)
    v0 = v0 / n0 if n0 > eps else v0
    v1 = v1 / n1 if n1 > eps else v1
    dot = np.sum(v0 * v1)
    if np.abs(dot) > dot_threshold:
        return torch.from_numpy((1 - t) * c0 + t * c1)
    theta_0 = np.arccos(dot)
    sin_theta_0 = np.sin(theta_0)
    theta_t = theta_0 * t
    s0 = np.sin(theta_0 - theta_t) / sin_theta_0
    s1 = np.sin(theta_t) / sin_theta_0
    return torch.from_numpy(s0 * c0 + s1 * c1)


def test_slerp_with_different_norms_by_hand():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    s = 2**-0.5  # sin(pi/4) / sin(pi/2)
    torch.testing.assert_close(slerp_merge([a, b]), torch.tensor([s, 2 * s]))  # mergekit: coefficients on raw a, b
    torch.testing.assert_close(slerp_merge([a, b], norm="interpolate"), torch.tensor([s, s]) * 1.5)
    # nearly colinear: linear interpolation of the raw tensors (mergekit's fallback)
    torch.testing.assert_close(slerp_merge([a, 3 * a], t=0.25), 1.5 * a)


@pytest.mark.parametrize("t", [0.0, 0.3, 0.5, 0.9, 1.0])
def test_slerp_matches_mergekit(tensors, t):
    a, b = tensors[0], 3.0 * tensors[1]  # norms differ by 3x
    expected = _mergekit_slerp(t, a.flatten(), b.flatten()).view(a.shape).float()
    torch.testing.assert_close(slerp_merge([a, b], t=t), expected, rtol=1e-5, atol=1e-5)
