"""Loaded models are in eval mode, and evaluation gives every model back exactly as it found it."""

from __future__ import annotations

import pytest
import torch

from hfnet._modelstate import module_modes
from hfnet.classifier import HubClassifier, load_classifier
from hfnet.evaluation import evaluate_classifier


@pytest.mark.parametrize("fixture", ["tiny_vit_dir", "tiny_timm_dir", "tiny_resnet_dir", "tiny_timm_resnet_dir"])
def test_load_classifier_is_in_eval_mode(request, fixture):
    clf = load_classifier(request.getfixturevalue(fixture))
    assert clf.training is False
    assert not any(m.training for m in clf.modules())


def test_from_pretrained_is_load_classifier(tiny_resnet_dir):
    clf = HubClassifier.from_pretrained(tiny_resnet_dir)
    assert isinstance(clf, HubClassifier) and clf.training is False
    assert clf.class_names == [str(i) for i in range(10)]


def _x(n: int = 8) -> torch.Tensor:
    return torch.randn(n, 3, 16, 16, generator=torch.Generator().manual_seed(0))


def test_batchnorm_logits_identical_after_evaluate(tiny_resnet_dir, digits_small):
    clf = load_classifier(tiny_resnet_dir)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in clf.modules())
    with torch.no_grad():
        before = clf(_x()).logits
    stats = {k: v.clone() for k, v in clf.model.state_dict().items() if "running" in k}
    evaluate_classifier(clf, digits_small["test"], progress=False)
    evaluate_classifier(clf, digits_small["test"], progress=False)
    assert clf.training is False and not any(m.training for m in clf.modules())
    with torch.no_grad():
        after = clf(_x()).logits
    assert torch.equal(before, after)
    assert all(torch.equal(stats[k], v) for k, v in clf.model.state_dict().items() if "running" in k)


def test_evaluate_restores_mixed_modes_exactly(tiny_resnet_dir, digits_small):
    """A model half in train mode (a frozen BatchNorm inside a training model) comes back the same."""
    clf = load_classifier(tiny_resnet_dir)
    clf.train()
    frozen = next(m for m in clf.modules() if isinstance(m, torch.nn.BatchNorm2d))
    frozen.eval()
    modes = [(id(m), t) for m, t in module_modes(clf)]
    stats = {k: v.clone() for k, v in clf.model.state_dict().items() if "running" in k}
    evaluate_classifier(clf, digits_small["test"], progress=False)
    assert [(id(m), t) for m, t in module_modes(clf)] == modes
    # evaluation ran in eval mode: the running statistics did not move
    assert all(torch.equal(stats[k], v) for k, v in clf.model.state_dict().items() if "running" in k)


def test_evaluate_restores_modes_on_error(tiny_resnet_dir, digits_small, monkeypatch):
    clf = load_classifier(tiny_resnet_dir).train()

    def boom(*a, **k):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(clf, "_logits", boom)
    with pytest.raises(RuntimeError):
        evaluate_classifier(clf, digits_small["test"], progress=False)
    assert clf.training and all(m.training for m in clf.modules())


def test_accuracy_is_evaluates_shape_from_the_shipped_module():
    from hfnet.evaluation import accuracy, accuracy_metric, top_k_accuracy

    metric = accuracy_metric()
    assert type(metric).__name__ == "Accuracy"
    assert accuracy([0, 1, 2, 2], [0, 1, 1, 2]) == {"accuracy": 0.75}
    logits = torch.tensor([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    assert top_k_accuracy(logits, torch.tensor([2, 2, 2]), 2) == pytest.approx(2 / 3)
    assert top_k_accuracy(logits, torch.tensor([2, 2, 2]), 1) == pytest.approx(1 / 3)


def test_evaluate_warns_when_class_names_differ(tiny_vit_dir, tiny_resnet_dir, digits_small, caplog):
    import logging

    small = digits_small["test"].filter(lambda e: e["label"] < 3)
    with caplog.at_level(logging.WARNING, logger="hfnet.evaluation"):
        evaluate_classifier(load_classifier(tiny_vit_dir), small, progress=False)  # cat/dog/bird on digits
    assert any("not the dataset's" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hfnet.evaluation"):
        evaluate_classifier(load_classifier(tiny_resnet_dir), digits_small["test"], progress=False)
    assert not any("not the dataset's" in r.getMessage() for r in caplog.records)


def test_training_report_to_and_no_empty_run_folders(tmp_path, digits_small):
    from hfnet.training import default_training_arguments, train_classifier
    from hfnet.zoo import tiny_resnet

    assert default_training_arguments(str(tmp_path / "runs" / "a")).report_to == []  # default: none
    assert default_training_arguments(str(tmp_path / "b"), report_to="tensorboard").report_to == ["tensorboard"]
    clf = tiny_resnet([str(i) for i in range(10)], image_size=16, embedding_size=8, hidden_sizes=(8, 8))
    train_classifier(clf, digits_small["train"], output_dir=str(tmp_path / "runs" / "a"), max_steps=2, batch_size=8)
    assert list(tmp_path.iterdir()) == []  # nothing written, so no empty run folders left behind
    assert clf.training is False
