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
    from hfnet.classifier import load_classifier

    names = list(prunable_parameters(timm_vit))
    assert "blocks.0.attn.qkv.weight" in names and "blocks.0.mlp.fc2.weight" in names
    assert not any(n.startswith(("patch_embed", "head", "norm")) or "norm" in n for n in names)
    resnet = load_classifier(tiny_timm_resnet_dir)
    cnn = prunable_parameters(resnet)
    assert cnn and all(p.dim() == 4 for p in cnn.values())  # conv kernels only; no BN, no fc head
    assert not any(n.startswith(("conv1", "fc", "bn")) for n in cnn)


def test_no_prunable_layers():
    from transformers import ViTConfig, ViTForImageClassification

    from hfnet.classifier import HubClassifier

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


# ---------------------------------------------------------------------- ReFer against features hfnet does not hook
def _independent_abs_grad_times_weight(weights: dict[str, torch.Tensor], objective) -> dict[str, torch.Tensor]:
    grads = torch.autograd.grad(objective, list(weights.values()))
    return {n: (g * w).abs().detach() for (n, w), g in zip(weights.items(), grads)}


@pytest.fixture(scope="module")
def hf_vit():
    """A plain transformers ViTForImageClassification (its own layer naming, output_hidden_states)."""
    from transformers import ViTConfig, ViTForImageClassification

    from hfnet.classifier import HubClassifier

    torch.manual_seed(0)
    config = ViTConfig(
        image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        num_labels=10, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )  # fmt: skip
    return HubClassifier.from_model(ViTForImageClassification(config).eval(), class_names=DIGITS)


@pytest.mark.parametrize("pooling", ["cls", "mean", "tokens"])
def test_refer_matches_output_hidden_states_of_a_transformers_vit(hf_vit, pooling):
    """The reference reads each layer's output from ``output_hidden_states`` (no hfnet hook) and pools it itself."""
    gen = torch.Generator().manual_seed(1)
    pixels = torch.randn(12, 3, 32, 32, generator=gen)
    labels = torch.randint(0, 10, (12,), generator=gen)
    batches = [{"pixel_values": pixels[i : i + 4], "labels": labels[i : i + 4]} for i in (0, 4, 8)]
    scores = refer_scores(hf_vit, batches, token_pooling=pooling)

    model = hf_vit.model
    weights = {
        f"vit.layers.{i}.{name}.weight": module.weight
        for i, layer in enumerate(model.vit.layers)
        for name, module in layer.named_modules()
        if isinstance(module, nn.Linear)
    }
    assert set(weights) == set(scores)  # q, k, v, attention output, intermediate, output of every layer
    hidden = model(pixel_values=pixels, output_hidden_states=True).hidden_states[1:]  # one per layer output
    assert len(hidden) == 2 and hidden[0].shape == (12, 17, 32)
    pooled = {
        "cls": [h[:, 0] for h in hidden],
        "mean": [h.mean(dim=1) for h in hidden],
        "tokens": [h.reshape(-1, 32) for h in hidden],
    }[pooling]
    objective = sum(torch.linalg.svdvals(f).mean() for f in pooled)
    _close(scores, _independent_abs_grad_times_weight(weights, objective), rtol=1e-3)


def _timm_resnet_stages(model, pixels):
    x = model.maxpool(model.act1(model.bn1(model.conv1(pixels))))
    out = []
    for stage in (model.layer1, model.layer2, model.layer3, model.layer4):
        x = stage(x)
        out.append(x)
    return out


@pytest.mark.parametrize("pooling", ["tokens", "mean"])
def test_refer_on_a_cnn_counts_rows_per_stage(tiny_timm_resnet_dir, pooling):
    """timm ResNet, 2 calibration images in 2 batches: with "tokens" every stage has its own number of rows
    (2 x 40x40 ... 2 x 5x5; the last stage has 50 rows for 96 channels, so 50 singular values, not 96)."""
    from hfnet.classifier import load_classifier

    clf = load_classifier(tiny_timm_resnet_dir).eval()
    model = clf.model
    gen = torch.Generator().manual_seed(0)
    pixels = torch.randn(2, 3, 160, 160, generator=gen)
    labels = torch.tensor([3, 7])
    batches = [{"pixel_values": pixels[i : i + 1], "labels": labels[i : i + 1]} for i in (0, 1)]
    scores = refer_scores(clf, batches, token_pooling=pooling)

    weights = {
        f"layer{i}.{name}.weight": module.weight
        for i, stage in enumerate((model.layer1, model.layer2, model.layer3, model.layer4), start=1)
        for name, module in stage.named_modules()
        if isinstance(module, nn.Conv2d)
    }
    assert set(weights) == set(scores)
    stages = _timm_resnet_stages(model, pixels)
    if pooling == "tokens":
        feats = [s.permute(0, 2, 3, 1).reshape(-1, s.shape[1]) for s in stages]
        assert [f.shape[0] for f in feats] == [3200, 800, 200, 50] and feats[-1].shape[1] == 96
    else:
        feats = [s.mean(dim=(2, 3)) for s in stages]
    objective = sum(torch.linalg.svdvals(f.double()).mean() for f in feats)
    _close(scores, _independent_abs_grad_times_weight(weights, objective), rtol=1e-3)


def test_objectives_are_pure_functions():
    from hfnet.pruning.scores import _svd_directions, refer_batch_objective, refer_union_objective, snip_objective

    gen = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(6, 4, generator=gen), torch.tensor([0, 1, 2, 3, 0, 1])
    expected = nn.functional.cross_entropy(logits, labels, reduction="sum") / 12
    assert torch.allclose(snip_objective(logits, labels, [], num_samples=12), expected)
    f1 = torch.randn(6, 5, generator=gen, requires_grad=True)
    f2 = torch.randn(3, 8, generator=gen, requires_grad=True)  # fewer rows than columns: 3 singular values
    literal = torch.linalg.svdvals(f1).mean() + torch.linalg.svdvals(f2).mean()
    assert torch.allclose(refer_batch_objective(logits, labels, [f1, f2]), literal)
    # the union objective's gradient is the gradient of the mean singular values (its value is not)
    grams = [(f.detach().T @ f.detach()).double() for f in (f1, f2)]
    mats, total = _svd_directions(grams, [6, 3])
    assert total == pytest.approx(float(literal.detach()), rel=1e-6)
    g_union = torch.autograd.grad(refer_union_objective(logits, labels, [f1, f2], directions=mats), [f1, f2])
    g_literal = torch.autograd.grad(literal, [f1, f2])
    for a, b in zip(g_union, g_literal):
        assert torch.allclose(a, b, atol=1e-5)
