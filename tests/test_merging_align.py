"""Permutation alignment: the structure is derived from the model; permuting keeps the function."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from hfnet.merging import (
    apply_permutation,
    classifier_permutation_spec,
    merge_models,
    permutation_spec,
    random_permutation,
    weight_matching,
)


def _randomise_batchnorm(model: nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g))
                m.running_var.uniform_(0.5, 2.0, generator=g)
                m.weight.normal_(generator=g)
                m.bias.normal_(generator=g)


def _plain_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 12, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),  # [B, 12*4*4]: the Linear's input dim is permuted in blocks of 16
        nn.Linear(12 * 16, 20),
        nn.ReLU(),
        nn.Linear(20, 5),
    ).eval()


def _check_permutation_keeps_function(model: nn.Module, spec, forward, x: torch.Tensor) -> None:
    state = {k: v.clone() for k, v in model.state_dict().items()}
    before = forward(x)
    permuted = apply_permutation(state, spec, random_permutation(spec, seed=3))
    assert sum(not torch.equal(permuted[k], state[k]) for k in state) >= len(spec.axes) - 1
    model.load_state_dict(permuted)
    torch.testing.assert_close(forward(x), before, rtol=1e-4, atol=1e-5)
    # weight matching recovers the original exactly
    result = weight_matching(spec, state, permuted)
    aligned = apply_permutation(permuted, spec, result.perms)
    for k in state:
        assert torch.equal(aligned[k], state[k]), k
    assert result.similarity_after > result.similarity_before


def test_plain_cnn_with_flatten():
    model = _plain_cnn()
    _randomise_batchnorm(model, 4)
    x = torch.randn(3, 3, 8, 8)
    spec = permutation_spec(model, x)
    assert sorted(spec.sizes.values()) == [8, 12, 20]  # the logits (5) stay fixed
    conv_out = dict((d, p) for d, p, _ in spec.axes["4.weight"])[0]
    assert spec.axes["7.weight"] == [(1, conv_out, 16), (0, spec.axes["7.bias"][0][1], 1)]
    with torch.no_grad():
        _check_permutation_keeps_function(model, spec, model, x)


def test_transformers_resnet(tiny_resnet_dir):
    from hfnet.classifier import load_classifier

    clf = load_classifier(tiny_resnet_dir)
    _randomise_batchnorm(clf.model, 0)
    spec = classifier_permutation_spec(clf)
    assert len(spec.sizes) == 4  # embedder, stage 0 (united with the residual), stage 1 inner, stage 1 residual
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        _check_permutation_keeps_function(clf.model, spec, clf.logits, x)


def test_timm_resnet(tiny_timm_resnet_dir):
    from hfnet.classifier import load_classifier

    clf = load_classifier(tiny_timm_resnet_dir)
    _randomise_batchnorm(clf.model, 1)
    spec = classifier_permutation_spec(clf)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        _check_permutation_keeps_function(clf.model, spec, clf.logits, x)


def test_aligned_merge_of_a_permuted_copy_is_the_model(tiny_resnet_dir, tmp_path):
    """Naive averaging of a model with a permuted copy of itself breaks it; aligned averaging gives it back."""
    from hfnet.classifier import HubClassifier, load_classifier

    clf = load_classifier(tiny_resnet_dir)
    _randomise_batchnorm(clf.model, 2)
    a_dir = clf.save_pretrained(tmp_path / "a")
    spec = classifier_permutation_spec(clf)
    permuted = apply_permutation(clf.model.state_dict(), spec, random_permutation(spec, seed=5))
    clf.model.load_state_dict(permuted)
    b_dir = HubClassifier.save_pretrained(clf, tmp_path / "b")
    a = load_file(a_dir / "model.safetensors")
    merge_models([a_dir, b_dir], tmp_path / "naive")
    report = merge_models([a_dir, b_dir], tmp_path / "aligned", align=True)
    naive = load_file(tmp_path / "naive" / "model.safetensors")
    aligned = load_file(tmp_path / "aligned" / "model.safetensors")
    key = "resnet.embedder.embedder.convolution.weight"
    assert not torch.allclose(naive[key], a[key])
    for k in a:
        torch.testing.assert_close(aligned[k], a[k])
    assert report.align and report.alignment[0]["similarity_after"] > report.alignment[0]["similarity_before"]
    # the merge settings are a table in the card (ModelCardInfo.settings)
    assert "| permutation alignment (weight matching) | yes |" in (tmp_path / "aligned" / "README.md").read_text()


@pytest.mark.parametrize("groups", [1, 8])
def test_depthwise_and_grouped(groups):
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, groups=groups),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 4),
    ).eval()
    x = torch.randn(2, 3, 9, 9)
    spec = permutation_spec(model, x)
    assert len(spec.sizes) == (2 if groups == 1 else 1)  # depthwise conv shares its input's permutation
    with torch.no_grad():
        _check_permutation_keeps_function(model, spec, model, x)
