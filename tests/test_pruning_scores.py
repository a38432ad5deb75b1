"""Pruning scores: SNIP by hand, ReFer against torch.linalg.svdvals, AFR = z(SNIP) + z(ReFer), batching invariance."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from hfnet.errors import HfnetError
from hfnet.pruning import (
    afr_scores,
    compute_scores,
    magnitude_scores,
    prunable_parameters,
    random_scores,
    refer_scores,
    snip_scores,
    standardize,
)
from hfnet.pruning.pipeline import calibration_batches
from hfnet.pruning.scores import _BlockFeatures

DIGITS = [str(i) for i in range(10)]


def _for_digits(classifier):
    clf = copy.deepcopy(classifier)
    torch.manual_seed(0)
    clf.replace_head(DIGITS)
    clf.eval()
    return clf


@pytest.fixture(scope="module")
def vit(tiny_vit_classifier):
    return _for_digits(tiny_vit_classifier)


@pytest.fixture(scope="module")
def timm_vit(tiny_timm_classifier):
    return _for_digits(tiny_timm_classifier)


@pytest.fixture(scope="module")
def batches(vit, digits_small):
    return calibration_batches(vit, digits_small["train"], num_samples=24, batch_size=8, seed=0)


def _union(batches):
    return [{k: torch.cat([b[k] for b in batches]) for k in batches[0]}]


def _by_hand(classifier, objective) -> dict[str, torch.Tensor]:
    params = prunable_parameters(classifier)
    grads = torch.autograd.grad(objective, list(params.values()))
    return {n: (g * p).abs().detach() for (n, p), g in zip(params.items(), grads)}


def _close(a, b, rtol=1e-4):
    assert a.keys() == b.keys()
    for n in a:
        scale = b[n].abs().max().clamp_min(1e-12)
        assert (a[n] - b[n]).abs().max() / scale < rtol, n


def test_prunable_parameters_transformers_vit(vit):
    names = list(prunable_parameters(vit))
    assert len(names) == 2 * 6  # q, k, v, o, fc1, fc2 per block
    assert "vit.layers.0.attention.q_proj.weight" in names and "vit.layers.1.mlp.fc2.weight" in names
    assert all(n.endswith(".weight") for n in names)
    assert not any("embeddings" in n or "norm" in n or n.startswith("classifier") for n in names)


def test_prunable_parameters_timm_vit_and_cnn(timm_vit, tiny_timm_resnet_dir):
    from hfnet.hub import load_classifier

    names = list(prunable_parameters(timm_vit))
    assert "blocks.0.attn.qkv.weight" in names and "blocks.0.mlp.fc2.weight" in names
    assert not any(n.startswith(("patch_embed", "head", "norm")) or "norm" in n for n in names)
    resnet = load_classifier(tiny_timm_resnet_dir)
    cnn = prunable_parameters(resnet)
    assert cnn and all(p.dim() == 4 for p in cnn.values())  # conv kernels only; no BN, no fc head
    assert not any(n.startswith(("conv1", "fc", "bn")) for n in cnn)


def test_no_prunable_layers():
    from transformers import ViTConfig, ViTForImageClassification

    from hfnet.hub import HubClassifier

    config = ViTConfig(image_size=16, patch_size=8, hidden_size=16, num_hidden_layers=0, num_attention_heads=2)
    clf = HubClassifier.from_model(ViTForImageClassification(config))
    with pytest.raises(HfnetError, match="no prunable layers"):
        prunable_parameters(clf)


def test_snip_equals_grad_times_weight_by_hand(vit, batches):
    scores = snip_scores(vit, batches)
    union = _union(batches)[0]
    loss = nn.functional.cross_entropy(vit.logits(union["pixel_values"]), union["labels"])
    _close(scores, _by_hand(vit, loss), rtol=1e-5)


def test_snip_timm_by_hand(timm_vit, digits_small):
    batches = calibration_batches(timm_vit, digits_small["train"], num_samples=16, batch_size=8)
    union = _union(batches)[0]
    loss = nn.functional.cross_entropy(timm_vit.logits(union["pixel_values"]), union["labels"])
    _close(snip_scores(timm_vit, batches), _by_hand(timm_vit, loss), rtol=1e-5)


@pytest.mark.parametrize("pooling", ["cls", "mean", "tokens"])
def test_refer_equals_svdvals_of_the_union_by_hand(vit, batches, pooling):
    scores = refer_scores(vit, batches, token_pooling=pooling)
    union = _union(batches)[0]
    with _BlockFeatures(vit, pooling) as hooks:
        vit.logits(union["pixel_values"])
        assert len(hooks.features) == 2
        rows = 24 if pooling != "tokens" else 24 * 17
        assert all(f.shape == (rows, 32) for f in hooks.features)
        objective = sum(torch.linalg.svdvals(f).mean() for f in hooks.features)
    _close(scores, _by_hand(vit, objective), rtol=1e-3)


def test_refer_batch_statistics_sum_per_batch_svdvals(vit, batches):
    scores = refer_scores(vit, batches, refer_statistics="batch")
    params = prunable_parameters(vit)
    total = [torch.zeros_like(p) for p in params.values()]
    for b in batches:
        with _BlockFeatures(vit, "cls") as hooks:
            vit.logits(b["pixel_values"])
            objective = sum(torch.linalg.svdvals(f).mean() for f in hooks.features)
        for t, g in zip(total, torch.autograd.grad(objective, list(params.values()))):
            t += g
    _close(scores, {n: (g * p).abs().detach() for (n, p), g in zip(params.items(), total)}, rtol=1e-4)


def test_afr_equals_z_snip_plus_z_refer(vit, batches):
    afr, snip, refer = afr_scores(vit, batches, return_components=True)
    _close(snip, snip_scores(vit, batches), rtol=1e-6)
    _close(refer, refer_scores(vit, batches), rtol=1e-6)
    flat_s = torch.cat([s.flatten() for s in snip.values()]).double()
    flat_r = torch.cat([s.flatten() for s in refer.values()]).double()
    for n in afr:
        expected = (snip[n].double() - flat_s.mean()) / flat_s.std() + (
            refer[n].double() - flat_r.mean()
        ) / flat_r.std()
        assert torch.allclose(afr[n].double(), expected, atol=1e-5), n
    z = torch.cat([s.flatten() for s in standardize(snip).values()])
    assert abs(float(z.mean())) < 1e-5 and abs(float(z.std()) - 1) < 1e-5


@pytest.mark.parametrize("method", ["snip", "refer", "afr"])
def test_two_batches_equal_their_union(vit, batches, method):
    split = compute_scores(method, vit, batches)
    whole = compute_scores(method, vit, _union(batches))
    _close(split, whole, rtol=1e-4)


def test_scores_depend_on_the_data(vit, batches):
    a = snip_scores(vit, batches[:1])
    b = snip_scores(vit, batches[1:2])
    assert any(not torch.allclose(a[n], b[n]) for n in a)


def test_random_and_magnitude(vit):
    r1, r2, r3 = random_scores(vit, seed=1), random_scores(vit, seed=1), random_scores(vit, seed=2)
    assert all(torch.equal(r1[n], r2[n]) for n in r1)
    assert not all(torch.equal(r1[n], r3[n]) for n in r1)
    params = prunable_parameters(vit)
    assert all(torch.equal(s, params[n].detach().abs()) for n, s in magnitude_scores(vit).items())


def test_scoring_leaves_the_model_unchanged(vit, batches):
    before = {n: p.detach().clone() for n, p in vit.model.named_parameters()}
    vit.train()
    afr_scores(vit, batches)
    assert vit.training  # mode restored
    vit.eval()
    assert all(torch.equal(before[n], p) for n, p in vit.model.named_parameters())
    assert all(p.grad is None for p in vit.parameters())


def test_bad_inputs(vit, batches):
    with pytest.raises(HfnetError, match="unknown pruning method"):
        compute_scores("obd", vit, batches)
    with pytest.raises(HfnetError, match="token_pooling"):
        refer_scores(vit, batches, token_pooling="max")
    with pytest.raises(HfnetError, match="no calibration batches"):
        snip_scores(vit, [])
    with pytest.raises(HfnetError, match="needs calibration batches"):
        compute_scores("snip", vit, None)
