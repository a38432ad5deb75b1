"""Offline evaluation agrees with a hand count."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hfnet.data import collate_fn
from hfnet.errors import HfnetError
from hfnet.evaluation import accuracy, evaluate_classifier, top_k_accuracy
from hfnet.preprocessing import with_model_transform


def test_accuracy_and_top_k_by_hand():
    logits = torch.tensor([[3.0, 1, 0, 0, 0, 0], [0, 3.0, 2, 1, 0, 0], [0, 0, 0, 0, 1, 2.0]])
    labels = torch.tensor([0, 2, 0])
    assert accuracy(logits.argmax(1), labels) == {"accuracy": pytest.approx(1 / 3)}
    assert top_k_accuracy(logits, labels, 2) == pytest.approx(2 / 3)
    assert top_k_accuracy(logits, labels, 6) == pytest.approx(1.0)


def test_evaluate_classifier_matches_hand_count(digits_small, tiny_vit_classifier):
    from hfnet.zoo import tiny_vit

    clf = tiny_vit([str(i) for i in range(10)], hidden_size=32, num_layers=1, num_heads=2, seed=3)
    ds = digits_small["test"]
    result = evaluate_classifier(clf, ds, batch_size=7, progress=False)
    transformed = with_model_transform(ds, clf.preprocessing)
    batch = collate_fn([transformed[i] for i in range(len(ds))])
    with torch.no_grad():
        logits = clf.logits(batch["pixel_values"])
    correct = sum(int(p == t) for p, t in zip(logits.argmax(1).tolist(), batch["labels"].tolist()))
    assert result["num_samples"] == 50
    assert result["accuracy"] == pytest.approx(correct / 50)
    assert result["loss"] == pytest.approx(float(nn.functional.cross_entropy(logits, batch["labels"])), rel=1e-5)
    assert "top5_accuracy" in result


def test_label_outside_head_is_an_error(digits_small, tiny_vit_classifier):
    with pytest.raises(HfnetError, match="replace its head"):
        evaluate_classifier(tiny_vit_classifier, digits_small["test"], progress=False)


def test_training_improves_accuracy(digits_small, tmp_path):
    from hfnet.training import train_classifier
    from hfnet.zoo import tiny_resnet

    clf = tiny_resnet([str(i) for i in range(10)], embedding_size=16, hidden_sizes=(16, 32), image_size=16, seed=0)
    before = evaluate_classifier(clf, digits_small["test"], progress=False)["accuracy"]
    train_classifier(
        clf,
        digits_small["train"],
        output_dir=str(tmp_path),
        epochs=6,
        batch_size=32,
        learning_rate=3e-3,
        disable_tqdm=True,
    )
    after = evaluate_classifier(clf, digits_small["test"], progress=False)["accuracy"]
    assert after > max(before, 0.3)


@pytest.mark.parametrize(
    ("option", "value", "rule"),
    [("--batch-size", "0", ">= 1"), ("--batch-size", "-3", ">= 1"), ("--seed", "-1", ">= 0")],
)
def test_evaluate_cli_refuses_bad_numbers_in_one_line(tiny_resnet_dir, capsys, option, value, rule):
    from hfnet.commands import main

    assert main(["evaluate", str(tiny_resnet_dir), "--dataset", "digits", option, value]) == 1
    err = capsys.readouterr().err
    assert f"{option} must be {rule}" in err and len(err.strip().splitlines()) == 1
