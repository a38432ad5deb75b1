"""Streaming merge of saved Hub folders: results, model card, head policy, and errors that write nothing."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from hfnet.errors import HfnetError
from hfnet.hub import load_classifier
from hfnet.merging import merge_models

DIGITS = [str(i) for i in range(10)]


def _resnet_dir(root, name, class_names, seed):
    from hfnet.zoo import tiny_resnet

    clf = tiny_resnet(class_names, embedding_size=16, hidden_sizes=(16, 32), depths=(1, 1), seed=seed)
    # non-trivial BatchNorm statistics, so merges of buffers are checked too
    g = torch.Generator().manual_seed(seed)
    for m in clf.model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g))
            m.num_batches_tracked.fill_(7 + seed)
    return clf.save_pretrained(root / name)


@pytest.fixture(scope="module")
def parents(tmp_path_factory):
    root = tmp_path_factory.mktemp("merge_parents")
    return {
        "a": _resnet_dir(root, "a", DIGITS, 0),
        "b": _resnet_dir(root, "b", DIGITS, 1),
        "c3": _resnet_dir(root, "c3", ["x", "y", "z"], 2),
    }


def test_self_merge_returns_the_model(parents, tmp_path):
    out = tmp_path / "self"
    merge_models([parents["a"], parents["a"]], out)
    a, m = load_file(parents["a"] / "model.safetensors"), load_file(out / "model.safetensors")
    assert a.keys() == m.keys()
    for k in a:
        torch.testing.assert_close(m[k], a[k])


def test_average_is_the_hand_mean_and_loads_in_transformers(parents, tmp_path):
    from transformers import AutoModelForImageClassification

    out = tmp_path / "avg"
    report = merge_models([parents["a"], parents["b"]], out, weights=[1, 3])
    a, b, m = (load_file(p / "model.safetensors") for p in (parents["a"], parents["b"], out))
    for k in a:
        if a[k].is_floating_point():
            torch.testing.assert_close(m[k], 0.25 * a[k] + 0.75 * b[k])
        else:  # num_batches_tracked is copied, never averaged
            assert torch.equal(m[k], a[k])
    assert report.copied_integer_tensors and all("num_batches_tracked" in k for k in report.copied_integer_tensors)
    model = AutoModelForImageClassification.from_pretrained(out)
    torch.testing.assert_close(model.state_dict()["classifier.1.weight"], m["classifier.1.weight"])
    card = (out / "README.md").read_text()
    assert (
        "`a` (local folder)" in card
        and "`b` (local folder)" in card
        and str(parents["a"]) not in card
        and "average" in card
        and "| 3.0 |" in card
    )
    assert json.loads((out / "hfnet_merge.json").read_text())["weights"] == [1.0, 3.0]


def test_head_from_takes_head_and_labels(parents, tmp_path):
    out = tmp_path / "head"
    report = merge_models([parents["a"], parents["c3"]], out, head_from=str(parents["c3"]))
    c3, m = load_file(parents["c3"] / "model.safetensors"), load_file(out / "model.safetensors")
    assert report.mismatched_tensors == ["classifier.1.weight", "classifier.1.bias"]  # module order
    torch.testing.assert_close(m["classifier.1.weight"], c3["classifier.1.weight"])
    assert load_classifier(out).class_names == ["x", "y", "z"]


def test_reinit_head(parents, tmp_path):
    out = tmp_path / "reinit"
    report = merge_models([parents["a"], parents["c3"]], out, reinit_head=True)
    m = load_file(out / "model.safetensors")
    assert report.head_policy == "re-initialised"
    assert m["classifier.1.weight"].shape == (10, 32) and m["classifier.1.weight"].std() < 0.02
    assert torch.count_nonzero(m["classifier.1.bias"]) == 0


def test_head_shape_mismatch_needs_a_policy(parents, tmp_path):
    out = tmp_path / "nopolicy"
    with pytest.raises(HfnetError, match="classifier.1.weight.*--head-from"):
        merge_models([parents["a"], parents["c3"]], out)
    assert not out.exists()


def test_different_architectures_name_the_first_tensor(parents, tiny_vit_dir, tmp_path):
    from hfnet.zoo import tiny_resnet

    wide = tiny_resnet(DIGITS, embedding_size=24, hidden_sizes=(16, 32), depths=(1, 1)).save_pretrained(
        tmp_path / "wide"
    )
    out = tmp_path / "bad"
    with pytest.raises(HfnetError, match="first mismatched tensor 'resnet.embedder.embedder.convolution.weight'"):
        merge_models([parents["a"], wide], out)
    with pytest.raises(HfnetError, match="different architectures.*resnet.*vit"):
        merge_models([parents["a"], tiny_vit_dir], out)
    assert not out.exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"models": ["a"]}, "at least two models"),
        ({"method": "soup"}, "unknown merge method"),
        ({"weights": [1.0]}, "1 weights given for 2 models"),
        ({"method": "ties"}, "needs --base"),
        ({"models": ["a", "b", "a"], "method": "slerp"}, "at most 2"),
    ],
)
def test_bad_input_writes_nothing(parents, tmp_path, kwargs, message):
    models = [parents[k] for k in kwargs.pop("models", ["a", "b"])]
    out = tmp_path / "out"
    with pytest.raises(HfnetError, match=message):
        merge_models(models, out, **kwargs)
    assert not out.exists()


def test_output_cannot_be_an_input(parents):
    with pytest.raises(HfnetError, match="one of the input models"):
        merge_models([parents["a"], parents["b"]], parents["a"])


@pytest.mark.parametrize("method", ["task_arithmetic", "ties"])
def test_methods_with_base(parents, tmp_path, method):
    out = tmp_path / method
    merge_models([parents["b"], parents["b"]], out, method=method, base=parents["a"], weights=[0.5, 0.5])
    b, m = load_file(parents["b"] / "model.safetensors"), load_file(out / "model.safetensors")
    # the same fine-tuned model twice, half weight each: TIES at default density trims, task arithmetic is exact
    if method == "task_arithmetic":
        torch.testing.assert_close(
            m["resnet.embedder.embedder.convolution.weight"], b["resnet.embedder.embedder.convolution.weight"]
        )
    assert load_classifier(out).num_classes == 10


def test_timm_merge_loads_in_timm(tiny_timm_resnet_dir, tmp_path):
    import timm

    out = tmp_path / "timm"
    merge_models([tiny_timm_resnet_dir, tiny_timm_resnet_dir], out, method="slerp")
    model = timm.create_model(f"local-dir:{out}", pretrained=True)
    ref = timm.create_model(f"local-dir:{tiny_timm_resnet_dir}", pretrained=True)
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(model.eval()(x), ref.eval()(x), rtol=1e-4, atol=1e-5)


def test_batchnorm_recompute_changes_statistics(parents, digits_small, tmp_path):
    out = tmp_path / "bn"
    report = merge_models([parents["a"], parents["b"]], out, batchnorm_dataset=digits_small["train"])
    assert report.batchnorm_layers_recomputed == 6
    plain = tmp_path / "plain"
    merge_models([parents["a"], parents["b"]], plain)
    k = "resnet.embedder.embedder.normalization.running_mean"
    assert not torch.allclose(load_file(out / "model.safetensors")[k], load_file(plain / "model.safetensors")[k])


def test_unreachable_hub_id_is_a_clear_error(parents, tmp_path):
    with pytest.raises(HfnetError, match="cannot load 'nobody/no-such-model'"):
        merge_models([parents["a"], "nobody/no-such-model"], tmp_path / "out")
    assert not (tmp_path / "out").exists()
