"""Streaming merge of saved Hub folders: results, model card, head policy, and errors that write nothing."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from hfnet.classifier import load_classifier
from hfnet.errors import HfnetError
from hfnet.finish import SaveOptions
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
            m.num_batches_tracked.fill_(7 + 100 * seed)  # far apart: an average would not equal a copy
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
        else:  # num_batches_tracked is copied from the first model (7), never averaged (0.25 * 7 + 0.75 * 107)
            assert torch.equal(m[k], a[k]) and int(m[k]) == 7 and m[k].dtype == torch.int64
    assert report.copied_integer_tensors and all("num_batches_tracked" in k for k in report.copied_integer_tensors)
    model = AutoModelForImageClassification.from_pretrained(out)
    torch.testing.assert_close(model.state_dict()["classifier.1.weight"], m["classifier.1.weight"])
    card = (out / "README.md").read_text()
    # parents named by folder name, never by absolute path (issue 9: cards carry no local paths)
    assert "| 0 | `a` (local folder) | 1.0 |" in card and "| 1 | `b` (local folder) | 3.0 |" in card
    assert str(parents["a"]) not in card and "average" in card
    assert json.loads((out / "hfnet_merge.json").read_text())["weights"] == [1.0, 3.0]


def test_integer_buffers_are_copied_from_the_head_model(parents, tmp_path):
    out = tmp_path / "ints"
    report = merge_models([parents["a"], parents["b"]], out, head_from=1)
    m = load_file(out / "model.safetensors")
    ints = [k for k in m if not m[k].is_floating_point()]
    assert ints and sorted(ints) == sorted(report.copied_integer_tensors)
    assert all(int(m[k]) == 107 for k in ints)  # b's value (seed 1), not a's 7 nor a mean


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


def test_batchnorm_recompute_by_hand(parents, digits_small):
    """Reset + cumulative average: the first BatchNorm's new statistics are the plain mean over the 64-image batches
    of each batch's mean and unbiased variance of its input (the stem conv's output, computed here directly)."""
    from torch.utils.data import DataLoader

    from hfnet.data import collate_fn
    from hfnet.merging.batchnorm import recompute_batchnorm
    from hfnet.preprocessing import with_model_transform

    clf = load_classifier(parents["a"])
    clf.eval()
    norms = [m for m in clf.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    norms[-1].train()  # a submodule in its own mode must come back in it
    assert all(int(m.num_batches_tracked) == 7 for m in norms)
    data = digits_small["train"]  # 200 images -> batches of 64, 64, 64, 8
    assert recompute_batchnorm(clf, data, batch_size=64, max_samples=None) == len(norms)

    conv = clf.model.resnet.embedder.embedder.convolution
    bn = clf.model.resnet.embedder.embedder.normalization
    means, variances = [], []
    with torch.no_grad():
        for batch in DataLoader(with_model_transform(data, clf.preprocessing), batch_size=64, collate_fn=collate_fn):
            x = conv(batch["pixel_values"]).double()
            means.append(x.mean(dim=(0, 2, 3)))
            variances.append(x.var(dim=(0, 2, 3), unbiased=True))
    assert len(means) == 4
    torch.testing.assert_close(bn.running_mean.double(), torch.stack(means).mean(0), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(bn.running_var.double(), torch.stack(variances).mean(0), rtol=1e-4, atol=1e-5)
    assert all(int(m.num_batches_tracked) == 4 for m in norms)  # reset, then one per batch
    assert all(m.momentum == 0.1 for m in norms)  # momentum restored
    assert not clf.training and all(not m.training for m in norms[:-1]) and norms[-1].training  # modes restored


def test_ties_whole_model_trim_through_merge_models(parents, tmp_path):
    out = tmp_path / "ties_model"
    report = merge_models(
        [parents["b"], parents["b"]], out, method="ties", base=parents["a"], weights=[0.5, 0.5],
        options={"density": 0.3, "trim": "model"},
    )  # fmt: skip
    a, b, m = (load_file(p / "model.safetensors") for p in (parents["a"], parents["b"], out))
    floats = [k for k in a if a[k].is_floating_point()]
    magnitudes = torch.cat([(b[k] - a[k]).abs().flatten() for k in floats])
    threshold = magnitudes.kthvalue(magnitudes.numel() - round(0.3 * magnitudes.numel())).values
    assert report.options["trim_thresholds"] == [pytest.approx(float(threshold))] * 2
    kept = 0
    for k in floats:
        tau = b[k] - a[k]
        keep = tau.abs() > threshold
        kept += int(keep.sum())
        torch.testing.assert_close(m[k], torch.where(keep, b[k], a[k]))
    assert kept == round(0.3 * magnitudes.numel())  # 30% of the whole task vector, unevenly spread over tensors
    per_layer = [float(((b[k] - a[k]).abs() > threshold).float().mean()) for k in floats if b[k].numel() > 100]
    assert max(per_layer) - min(per_layer) > 0.1


def test_class_names_that_differ_are_refused_without_a_head_policy(tmp_path):
    """Same head shape, other classes (a Fashion model and a digits model): averaging the heads is refused."""
    fashion = [f"f{i}" for i in range(10)]
    a = _resnet_dir(tmp_path, "digits", DIGITS, 0)
    b = _resnet_dir(tmp_path, "fashion", fashion, 1)
    out = tmp_path / "out"
    with pytest.raises(HfnetError, match="class names differ.*'0'.*'f0'.*--head-from"):
        merge_models([a, b], out)
    assert not out.exists()
    merge_models([a, b], out, head_from=str(b))
    assert load_classifier(out).class_names == fashion


@pytest.mark.parametrize("weights", [[1.0, float("nan")], [float("inf"), 1.0]])
def test_non_finite_weights_are_refused(parents, tmp_path, weights):
    with pytest.raises(HfnetError, match="finite"):
        merge_models([parents["a"], parents["b"]], tmp_path / "out", weights=weights)
    assert not (tmp_path / "out").exists()


def test_merge_evaluates_and_names_the_batchnorm_dataset(parents, digits_small, tmp_path):
    from huggingface_hub import ModelCard

    from hfnet.merging.config import MergeConfig
    from hfnet.merging.merge import run

    out = tmp_path / "evaluated"
    config = MergeConfig(models=[str(parents["a"]), str(parents["b"])], bn_dataset="digits", eval_dataset="digits")
    report = run(config, SaveOptions(str(out)), bn_data=digits_small["train"], eval_data=digits_small["test"])
    assert 0 <= report.metrics["accuracy"] <= 1 and report.batchnorm_dataset == "digits"
    card = ModelCard.load(out / "README.md")
    results = card.data.eval_results
    assert results and results[0].metric_value == pytest.approx(report.metrics["accuracy"], abs=1e-6)
    assert "| BatchNorm statistics recomputed on | digits (train split" in card.content
    assert json.loads((out / "hfnet_merge.json").read_text())["batchnorm_layers_recomputed"] == 6
