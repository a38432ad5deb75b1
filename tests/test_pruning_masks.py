"""Masks: exact counts with one global threshold or per layer; bad sparsities and scores are refused."""

from __future__ import annotations

import pytest
import torch

from hfnet.errors import HfnetError
from hfnet.pruning import global_masks, layerwise_masks, make_masks, mask_hash, mask_sparsity


def _scores(seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {
        "a.weight": torch.rand(7, 13, generator=gen),
        "b.weight": torch.rand(5, 3, 3, 3, generator=gen) * 3,  # larger scale: a global threshold favours it
        "c.weight": torch.rand(101, generator=gen) * 0.1,
    }


@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.9, 0.95, 0.98, 0.999])
def test_global_masks_exact_count(sparsity):
    scores = _scores()
    masks = global_masks(scores, sparsity)
    total = sum(s.numel() for s in scores.values())
    pruned = sum(int((~m).sum()) for m in masks.values())
    assert pruned == round(sparsity * total)
    assert all(m.dtype == torch.bool and m.shape == scores[n].shape for n, m in masks.items())
    # one threshold: every kept score is >= every pruned score
    kept = torch.cat([scores[n][m] for n, m in masks.items()])
    gone = torch.cat([scores[n][~m] for n, m in masks.items()])
    if len(kept) and len(gone):
        assert kept.min() >= gone.max()


def test_global_threshold_is_not_per_layer():
    masks = global_masks(_scores(), 0.5)
    assert mask_sparsity({"c": masks["c.weight"]}) == 1.0  # the small-scale layer goes entirely
    assert mask_sparsity({"b": masks["b.weight"]}) < 0.5


@pytest.mark.parametrize("sparsity", [0.5, 0.9])
def test_layerwise_masks_exact_count_per_layer(sparsity):
    scores = _scores()
    masks = layerwise_masks(scores, sparsity)
    for n, m in masks.items():
        assert int((~m).sum()) == round(sparsity * scores[n].numel())
        # within every tensor the kept weights are the highest-scoring ones
        assert scores[n][m].min() >= scores[n][~m].max(), n
    assert make_masks(scores, sparsity, "layer").keys() == masks.keys()


def test_ties_are_broken_to_the_exact_count():
    scores = {"w": torch.zeros(10, 10)}
    masks = global_masks(scores, 0.37)
    assert int((~masks["w"]).sum()) == 37


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan"), "x"])
def test_bad_sparsity(bad):
    with pytest.raises(HfnetError, match="sparsity"):
        global_masks(_scores(), bad)


def test_bad_scores_and_scope():
    with pytest.raises(HfnetError, match="NaN"):
        global_masks({"w": torch.tensor([1.0, float("nan")])}, 0.5)
    with pytest.raises(HfnetError, match="no scores"):
        global_masks({}, 0.5)
    with pytest.raises(HfnetError, match="scope"):
        make_masks(_scores(), 0.5, "block")


def test_mask_hash_tells_masks_apart():
    a = global_masks(_scores(0), 0.5)
    assert mask_hash(a) == mask_hash(global_masks(_scores(0), 0.5))
    assert mask_hash(a) != mask_hash(global_masks(_scores(1), 0.5))


def test_layerwise_masks_keep_the_top_scores_of_each_tensor_by_hand():
    scores = {"w": torch.tensor([[0.3, -2.0, 5.0], [1.0, 0.0, 4.0]]), "v": torch.tensor([9.0, 1.0, 3.0, 2.0])}
    masks = layerwise_masks(scores, 0.5)
    assert masks["w"].tolist() == [[False, False, True], [True, False, True]]
    assert masks["v"].tolist() == [True, False, True, False]
    assert torch.equal(make_masks(scores, 0.5, "layer")["w"], masks["w"])
