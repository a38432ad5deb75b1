"""hfnet finetune: a new head for the dataset's classes, every weight trained, evaluated, saved with card and
processor, loading in plain transformers / timm."""

from __future__ import annotations

import json

import torch

from hfnet.jobs import run_job


def test_finetune_end_to_end(tiny_vit_dir, tmp_path):
    from transformers import AutoModelForImageClassification

    out = tmp_path / "ft"
    argv = [str(tiny_vit_dir), "--dataset", "digits", "--samples-per-class", "10", "--test-samples-per-class", "3"]
    argv += ["--output-dir", str(out), "--max-steps", "3", "--batch-size", "16", "--json", str(tmp_path / "s.json")]
    assert run_job("finetune", argv) == 0
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["train_steps"] == 3 and summary["head_replaced"] is True
    assert 0.0 <= summary["accuracy"] <= 1.0
    before = AutoModelForImageClassification.from_pretrained(tiny_vit_dir)
    after = AutoModelForImageClassification.from_pretrained(out)
    assert after.config.num_labels == 10 and after.config.id2label[3] == "3"
    # every weight was trained, not only the head
    changed = [
        n for n, p in after.vit.named_parameters() if not torch.equal(p, dict(before.vit.named_parameters())[n])
    ]
    assert any(".0.attention." in n for n in changed) and any("embeddings" in n for n in changed), changed
    assert (out / "preprocessor_config.json").exists()
    card = (out / "README.md").read_text()
    assert "model-index" in card and "hfnet finetune" in card and "Fine-tuning" in card


def test_finetune_timm_loads_in_timm(tiny_timm_dir, tmp_path):
    import timm

    out = tmp_path / "ft-timm"
    argv = [str(tiny_timm_dir), "--dataset", "digits", "--samples-per-class", "5", "--test-samples-per-class", "2"]
    assert run_job("finetune", [*argv, "--output-dir", str(out), "--max-steps", "2", "--batch-size", "16"]) == 0
    model = timm.create_model(f"local-dir:{out}", pretrained=True)
    assert model.num_classes == 10


def test_finetune_refuses_existing_folder_before_loading(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("x")
    assert run_job("finetune", ["no/such-model", "--dataset", "digits", "--output-dir", str(tmp_path)]) == 1
    assert "overwrite" in capsys.readouterr().err
    assert (tmp_path / "mine.txt").read_text() == "x"
