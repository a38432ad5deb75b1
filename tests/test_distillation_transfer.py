"""The unlabelled transfer set: -100 labels reach the loss (soft term only), evaluation never sees them, the logit
cache indexes them, every chain stage and the hint stage train on them, refusals are clear, the card records them."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from distill_setup import distill_argv, kd_args, kd_student, kd_teacher

from hfnet.data import load_image_dataset
from hfnet.distillation.chain import distill, distill_chain
from hfnet.distillation.config import DistillationConfig
from hfnet.distillation.data import load_transfer_set, with_distillation_transform, with_transfer_set
from hfnet.distillation.trainer import DistillationTrainer
from hfnet.errors import HfnetError
from hfnet.zoo import tiny_resnet


@pytest.fixture(scope="module")
def transfer(kd_digits):
    return load_transfer_set(
        "digits", "train", samples=24, seed=0, exclude={"train": kd_digits["train"], "eval": kd_digits["test"]}
    )


_teacher, _student = kd_teacher, kd_student


def _args(tmp_path, **kw):
    return kd_args(
        tmp_path, **{"per_device_train_batch_size": 16, "max_steps": 4, "alpha": 0.4, "temperature": 2.0, **kw}
    )


def _keys(ds):
    return [x["bytes"] for x in ds.with_format("arrow")[:]["image"].to_pylist()]


def test_transfer_set_is_disjoint_from_training_and_evaluation_images(kd_digits, transfer):
    assert len(transfer.images) == 24 and transfer.images.column_names == ["image"]
    assert transfer.removed == {"train": len(kd_digits["train"]), "eval": 0}  # test images live in another split
    taken = set(_keys(kd_digits["train"])) | set(_keys(kd_digits["test"]))
    assert not taken & set(_keys(transfer.images))
    again = load_transfer_set(
        "digits", "train", samples=24, seed=0, exclude={"train": kd_digits["train"], "eval": kd_digits["test"]}
    )
    assert _keys(again.images) == _keys(transfer.images)  # drawn with the seed: every process gets the same set
    # the evaluation split as "unlabelled" images: every evaluation image is left out
    from_test = load_transfer_set("digits", "test", exclude={"eval": kd_digits["test"]})
    assert from_test.removed["eval"] == len(kd_digits["test"])
    assert not set(_keys(kd_digits["test"])) & set(_keys(from_test.images))
    assert "unlabelled images of digits (test split" in from_test.describe()


def test_combined_training_set_keeps_labelled_indices_and_marks_the_rest(kd_digits, transfer):
    combined = with_transfer_set(kd_digits["train"], transfer.images)
    n = len(kd_digits["train"])
    assert len(combined) == n + 24
    assert combined["label"][:n] == kd_digits["train"]["label"]
    assert combined["label"][n:] == [-100] * 24
    assert _keys(combined)[:n] == _keys(kd_digits["train"]) and _keys(combined)[n:] == _keys(transfer.images)


def test_unlabelled_samples_reach_the_loss_soft_only_and_never_the_evaluation(
    kd_digits, names, transfer, tmp_path, monkeypatch
):
    """During training, record every batch compute_loss gets: the -100 samples arrive, and the loss equals
    mean over the batch of ((1 - a) CE + a T^2 KL) on labelled rows and T^2 KL alone on unlabelled rows, computed
    here without hfnet's loss code; in evaluation no -100 label ever arrives and exactly the test images do."""
    seen = {"train": [], "eval": []}
    original = DistillationTrainer.compute_loss

    def spy(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        out = original(self, model, inputs, return_outputs, num_items_in_batch)
        labels = inputs["labels"].clone()
        if not model.training:
            seen["eval"].append(labels)
            return out
        loss = out[0] if return_outputs else out
        with torch.no_grad():
            s = model(pixel_values=inputs["pixel_values"])["logits"].float()
            t = self.teacher(pixel_values=inputs["teacher_pixel_values"]).logits.float()
        lab = labels != -100
        ce = torch.zeros(len(labels))
        ce[lab] = F.cross_entropy(s[lab], labels[lab], reduction="none")
        p_t = F.softmax(t / 2.0, dim=1)
        kl = (p_t * (p_t.log() - F.log_softmax(s / 2.0, dim=1))).sum(1) * 4.0
        expected = torch.where(lab, 0.6 * ce + 0.4 * kl, kl).mean()
        seen["train"].append((labels, float(loss.detach()), float(expected)))
        return out

    monkeypatch.setattr(DistillationTrainer, "compute_loss", spy)
    teacher, student = _teacher(names), _student(names)
    args = _args(tmp_path, eval_strategy="steps", eval_steps=2, max_steps=4)
    (result,) = distill_chain(
        [teacher, student],
        kd_digits["train"],
        args,
        eval_dataset=kd_digits["test"],
        transfer_set=transfer,
    )
    train_labels = torch.cat([b[0] for b in seen["train"]])
    assert len(seen["train"]) == 4
    assert int((train_labels == -100).sum()) > 0 and int((train_labels >= 0).sum()) > 0
    for _, got, expected in seen["train"]:
        assert got == pytest.approx(expected, rel=1e-4)  # (dropout-free student: the re-run gives the same logits)
    eval_labels = torch.cat(seen["eval"])
    assert len(eval_labels) % len(kd_digits["test"]) == 0 and len(eval_labels) > 0  # whole test split, per eval
    assert int((eval_labels == -100).sum()) == 0
    logged = [h for h in result.log_history if "labeled_fraction" in h]
    assert logged and all(0 < h["labeled_fraction"] < 1 for h in logged)
    assert all(h["alpha_mean"] > 0.4 for h in logged)  # unlabelled samples train at soft weight 1


def test_cached_logits_with_a_transfer_set_equal_live_teacher_logits(kd_digits, names, transfer, tmp_path):
    teacher = _teacher(names)
    trainer = distill(
        _student(names),
        teacher,
        kd_digits["train"],
        _args(tmp_path, cache_teacher_logits=True, max_steps=1),
        unlabeled=transfer.images,
    )
    cached = trainer.train_dataset
    n = len(kd_digits["train"])
    assert len(cached) == n + len(transfer.images)
    combined = with_distillation_transform(
        with_transfer_set(kd_digits["train"], transfer.images), trainer.student_preprocessing, teacher.preprocessing
    )
    with torch.no_grad():
        for i in [0, n - 1, n, n + 7, len(cached) - 1]:
            example = cached[i]
            assert example["labels"] == (-100 if i >= n else kd_digits["train"][i]["label"])
            live = teacher.eval()(pixel_values=combined[i]["teacher_pixel_values"][None]).logits[0]
            torch.testing.assert_close(example["teacher_logits"], live, rtol=1e-5, atol=1e-6)


def test_every_chain_stage_and_the_hint_stage_train_on_the_transfer_set(
    kd_digits, names, transfer, tmp_path, monkeypatch
):
    sizes = []
    original = DistillationTrainer.get_train_dataloader

    def spy(self):
        sizes.append((type(self).__name__, len(self.train_dataset)))
        return original(self)

    monkeypatch.setattr(DistillationTrainer, "get_train_dataloader", spy)
    teacher = _teacher(names)
    assistant = tiny_resnet(names, image_size=24, embedding_size=8, hidden_sizes=(8, 16), depths=(1, 1), seed=3)
    results = distill_chain(
        [teacher, assistant, _student(names)],
        kd_digits["train"],
        _args(tmp_path, max_steps=1, hint_max_steps=1),
        hints=[None, "vit.layers.0:resnet.encoder.stages.0"],
        transfer_set=transfer,
    )
    assert len(results) == 2
    total = len(kd_digits["train"]) + len(transfer.images)
    assert sizes == [
        ("DistillationTrainer", total),
        ("HintTrainer", total),
        ("DistillationTrainer", total),
    ]


def test_refusals_are_clear_and_leave_no_output_folder(kd_digits, names, tmp_path):
    out = tmp_path / "never"
    with pytest.raises(HfnetError, match="alpha 0 turns the soft targets off"):
        _args(tmp_path, alpha=0.0, unlabeled_dataset="digits")
    with pytest.raises(HfnetError, match="no split 'validation'"):
        distill_chain(
            [_teacher(names), _student(names)],
            kd_digits["train"],
            _args(tmp_path, unlabeled_dataset="digits", unlabeled_split="validation"),
            output_dir=out,
        )
    # every image of the split is a training or evaluation image: nothing to distil on
    full = load_image_dataset("digits")
    with pytest.raises(HfnetError, match="nothing left to distil on"):
        distill_chain(
            [_teacher(names), _student(names)],
            full["train"],
            _args(tmp_path, unlabeled_dataset="digits"),
            eval_dataset=full["test"],
            output_dir=out,
        )
    assert not out.exists()


def test_an_image_folder_with_a_broken_image_is_refused(kd_digits, names, tmp_path):
    from PIL import Image

    folder = tmp_path / "unlabelled"
    folder.mkdir()
    (folder / "a_broken.png").write_bytes(b"not an image at all")
    Image.new("RGB", (20, 20), "white").save(folder / "b_fine.png")
    out = tmp_path / "never"
    with pytest.raises(HfnetError, match="unlabelled image 0 .*cannot be (prepared|read)"):
        distill_chain(
            [_teacher(names), _student(names)],
            kd_digits["train"],
            _args(tmp_path, unlabeled_dataset=str(folder)),
            output_dir=out,
        )
    assert not out.exists()


def test_a_transformed_training_set_is_refused(kd_digits, names, transfer, tmp_path):
    student, teacher = _student(names), _teacher(names)
    transformed = with_distillation_transform(kd_digits["train"], student.preprocessing, teacher.preprocessing)
    with pytest.raises(HfnetError, match="raw training set"):
        distill(student, teacher, transformed, _args(tmp_path), unlabeled=transfer.images)


def test_merit_weighting_with_a_transfer_set_keeps_unlabelled_at_one(kd_digits, names, transfer, tmp_path):
    teacher, student = _teacher(names), _student(names)
    trainer = DistillationTrainer(student, teacher, _args(tmp_path, merit_delta=0.2, unlabeled_dataset="digits"))
    combined = with_distillation_transform(
        with_transfer_set(kd_digits["train"], transfer.images), student.preprocessing, teacher.preprocessing
    )
    n = len(kd_digits["train"])
    batch = trainer.data_collator([combined[i] for i in [0, 1, 2, 3, n, n + 1, n + 2]])
    student.train()
    trainer.compute_loss(student, batch)
    with torch.no_grad():
        right = teacher.eval().logits(batch["teacher_pixel_values"]).argmax(1) == batch["labels"]
    labelled = torch.where(right[:4], 0.6, 0.2)
    expected = (float(labelled.sum()) + 3 * 1.0) / 7
    assert float(trainer._metrics["train"]["alpha_mean"][-1]) == pytest.approx(expected, rel=1e-6)
    assert float(trainer._metrics["train"]["labeled_fraction"][-1]) == pytest.approx(4 / 7)


# ---------------------------------------------------------------------- command line
_cli = distill_argv


def test_cli_option_parses_reaches_the_config_and_the_card(tiny_resnet_dir, tmp_path):
    from hfnet.commands import main
    from hfnet.jobs import make_parser

    extra = ["--unlabeled-dataset", "digits", "--unlabeled-split", "train", "--unlabeled-samples", "30"]
    options = make_parser("distill").parse_args_into_dataclasses(_cli(tiny_resnet_dir, tmp_path / "o", *extra)[1:])
    kd = next(o for o in options if type(o).__name__ == "DistillationOptions")
    assert (kd.unlabeled_dataset, kd.unlabeled_split, kd.unlabeled_samples) == ("digits", "train", 30)
    assert DistillationConfig(output_dir=str(tmp_path), **kd.distillation_kwargs()).unlabeled_samples == 30
    out = tmp_path / "distilled"
    assert main(_cli(tiny_resnet_dir, out, *extra, "--cache-teacher-logits")) == 0
    card = (out / "student" / "README.md").read_text()
    assert "30 unlabelled images of digits (train split, 1,437 images; left out: 50 equal to labelled training" in card
    config = json.loads(card.split("Settings:\n\n```json\n", 1)[1].split("\n```", 1)[0])
    assert (config["unlabeled_dataset"], config["unlabeled_split"], config["unlabeled_samples"]) == (
        "digits",
        "train",
        30,
    )
    # the accuracy reported is that of the test split alone (10 classes x 2 images)
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert rows[-1]["accuracy"] is not None


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--unlabeled-dataset", "digits", "--alpha", "0"], "alpha 0 turns the soft targets off"),
        (["--unlabeled-dataset", "digits", "--unlabeled-samples", "0"], "--unlabeled-samples must be >= 1"),
        (["--unlabeled-dataset", "digits", "--unlabeled-split", "nope"], "no split 'nope'"),
        (["--unlabeled-dataset", "/no/such/folder"], "no such dataset folder"),
    ],
)
def test_cli_transfer_refusals_one_line_no_folder(tiny_resnet_dir, tmp_path, capsys, extra, message):
    from hfnet.commands import main

    out = tmp_path / "x"
    assert main(_cli(tiny_resnet_dir, out, *extra)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1]
    assert not out.exists()
