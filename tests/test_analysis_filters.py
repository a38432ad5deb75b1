"""Filter similarity matrices: shapes, known permutations, self-comparison, plots."""

from __future__ import annotations

import pytest
import torch

from hfnet.analysis import (
    best_match_order,
    binarise,
    compare_filters,
    cosine_matrix,
    euclidean_matrix,
    get_conv_weight,
    min_distances,
    plot_comparison,
    plot_summary,
    single_channel_filters,
)
from hfnet.analysis.compare import compare_models
from hfnet.errors import HfnetError


@pytest.fixture
def kernels():
    g = torch.Generator().manual_seed(0)
    return torch.randn(16, 3, 5, 5, generator=g), torch.randn(16, 3, 5, 5, generator=g)


def test_single_channel_filter_layout(kernels):
    a, _ = kernels
    f = single_channel_filters(a)
    assert f.shape == (48, 25)
    assert torch.equal(f[2 * 3 + 1], a[2, 1].flatten())  # row o * C_in + i


def test_cosine_matrix_permutes_with_output_channels(kernels):
    a, b = kernels
    perm = torch.randperm(16, generator=torch.Generator().manual_seed(1))
    base = cosine_matrix(single_channel_filters(a), single_channel_filters(b))
    permuted = cosine_matrix(single_channel_filters(a), single_channel_filters(b[perm]))
    cols = (perm[:, None] * 3 + torch.arange(3)[None, :]).flatten()
    torch.testing.assert_close(permuted, base[:, cols])
    # and rows permute with A's channels
    rows_permuted = cosine_matrix(single_channel_filters(a[perm]), single_channel_filters(b))
    torch.testing.assert_close(rows_permuted, base[cols])


def test_euclidean_matrix_permutes_and_s_both_directions(kernels):
    a, b = kernels
    perm = torch.randperm(16, generator=torch.Generator().manual_seed(2))
    e = compare_filters(a, b, metric="euclidean").matrix
    e_perm = compare_filters(a, b[perm], metric="euclidean").matrix
    torch.testing.assert_close(e_perm, e[:, perm])
    s_a, s_b = min_distances(e)
    s_a2, s_b2 = min_distances(e_perm)
    torch.testing.assert_close(s_a2, s_a)  # A as reference: unchanged by permuting B
    torch.testing.assert_close(s_b2, s_b[perm])  # B as reference: permuted with B
    torch.testing.assert_close(e[3, 7], (a[3] - b[7]).norm())


def test_best_match_reordering_recovers_a_permuted_copy(kernels):
    a, _ = kernels
    perm = torch.randperm(16, generator=torch.Generator().manual_seed(3))
    cmp = compare_filters(a, a[perm], metric="cosine")
    assert cmp.summary["diagonal_fraction_reordered"] == 1.0
    assert cmp.summary["diagonal_fraction_raw"] < 0.3
    torch.testing.assert_close(torch.diagonal(cmp.reordered), torch.ones(48))
    euc = compare_filters(a, a[perm], metric="euclidean")
    assert float(euc.s_a.max()) < 1e-5 and float(euc.s_b.max()) < 1e-5
    assert torch.equal(perm[euc.order], torch.arange(16))


def test_best_match_order_is_greedy_in_row_order():
    sim = torch.tensor([[0.9, 0.8, 0.0], [0.95, 0.1, 0.2]])
    # row 0 takes column 0 first, so row 1 must take its best remaining column (2); column 1 follows
    assert best_match_order(sim).tolist() == [0, 2, 1]


def test_binarise_threshold():
    assert binarise(torch.tensor([0.4, 0.5, 0.6])).tolist() == [0, 0, 1]


def test_bad_shapes():
    with pytest.raises(HfnetError, match="conv kernel"):
        single_channel_filters(torch.zeros(3, 3))
    with pytest.raises(HfnetError, match="different sizes"):
        euclidean_matrix(torch.zeros(2, 4), torch.zeros(2, 5))
    with pytest.raises(HfnetError, match="no conv layer 'nope'"):
        get_conv_weight({"c.weight": torch.zeros(2, 1, 3, 3)}, "nope")


def test_compare_models_default_first_conv_and_random_baseline(tiny_resnet_dir, tmp_path):
    name, cmp = compare_models(tiny_resnet_dir, tiny_resnet_dir)
    assert name == "resnet.embedder.embedder.convolution.weight"
    assert cmp.summary["diagonal_fraction_raw"] == 1.0
    assert cmp.summary["diagonal_fraction_raw_random"] < 0.5
    png = plot_comparison(cmp, tmp_path / "cos.png", title="self")
    name, euc = compare_models(tiny_resnet_dir, tiny_resnet_dir, metric="euclidean")
    png2 = plot_comparison(euc, tmp_path / "euc.png")
    rows = [{"pair": "self", **cmp.summary}]
    png3 = plot_summary(rows, tmp_path / "summary.png")
    for p in (png, png2, png3):
        assert p.read_bytes()[:4] == b"\x89PNG"
