"""``hfnet prune`` end to end on real digits, and its refusals (nothing written on bad input)."""

from __future__ import annotations

import json

import pytest
import torch

from hfnet.classifier import load_classifier
from hfnet.commands import main
from hfnet.pruning import prunable_parameters


def _argv(model, out, *extra):
    return [
        "prune",
        str(model),
        "--dataset",
        "digits",
        "--samples-per-class",
        "6",
        "--test-samples-per-class",
        "2",
        "--calibration-samples",
        "16",
        "--calibration-batch-size",
        "8",
        "--batch-size",
        "8",
        "--output",
        str(out),
        *extra,
    ]


def test_cli_prunes_fine_tunes_and_saves(tiny_vit_dir, tmp_path, capsys):
    out = tmp_path / "pruned"
    assert main(_argv(tiny_vit_dir, out, "--method", "afr", "--sparsity", "0.9", "--max-steps", "3")) == 0
    text = capsys.readouterr().out
    assert "afr" in text and "saved" in text
    assert "hfnet prune" in (out / "README.md").read_text()  # the command that reproduces it, in the card
    clf = load_classifier(out)
    assert clf.num_classes == 10  # digit names "0".."9" read back as placeholders
    weights = prunable_parameters(clf)
    zeros = sum(int((p == 0).sum()) for p in weights.values())
    total = sum(p.numel() for p in weights.values())
    assert zeros == round(0.9 * total)
    card = (out / "README.md").read_text()
    assert "AFR" in card and "sparsity_prunable" in card and "digits" in card and "accuracy" in card
    assert sorted(p.name for p in out.iterdir()) == [
        ".hfnet-manifest.json",
        "README.md",
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
    ]


def test_cli_epochs_zero_scores_masks_and_saves_without_training(tiny_timm_dir, tmp_path, capsys):
    out = tmp_path / "pruned"
    argv = _argv(tiny_timm_dir, out, "--method", "snip", "--sparsity", "0.5", "--epochs", "0")
    # the dataset's classes are new to the model: an untrained head is refused unless asked for
    assert main(argv) == 1
    assert "--allow-untrained-head" in capsys.readouterr().err and not out.exists()
    assert main([*argv, "--allow-untrained-head"]) == 0
    assert "Untrained head" in (out / "README.md").read_text()
    clf = load_classifier(out)
    before = load_classifier(tiny_timm_dir)
    kept = [
        torch.equal(p[p != 0], dict(before.model.named_parameters())[n].detach()[p != 0])
        for n, p in prunable_parameters(clf).items()
    ]
    assert all(kept)  # no fine-tuning: surviving weights are the pretrained ones


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--sparsity", "1.0"], "sparsity must be in [0, 1)"),
        (["--sparsity", "-0.2"], "sparsity must be in [0, 1)"),
        (["--calibration-samples", "4"], "fewer than one batch"),
    ],
)
def test_cli_bad_options_write_nothing(tiny_vit_dir, tmp_path, capsys, extra, message):
    out = tmp_path / "pruned"
    assert main(_argv(tiny_vit_dir, out, *extra)) == 1
    assert message in capsys.readouterr().err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_cli_unknown_method_is_refused(tiny_vit_dir, tmp_path):
    assert main(_argv(tiny_vit_dir, tmp_path / "pruned", "--method", "obd")) == 1  # one line, like every error
    assert not (tmp_path / "pruned").exists()


def test_cli_offline_hub_id_and_no_prunable_layers(tmp_path, capsys):
    from transformers import ViTConfig, ViTForImageClassification

    from hfnet.classifier import HubClassifier

    assert main(_argv("google/vit-base-patch16-224", tmp_path / "a", "--epochs", "0")) == 1
    assert "cannot load 'google/vit-base-patch16-224'" in capsys.readouterr().err
    config = ViTConfig(image_size=16, patch_size=8, hidden_size=16, num_hidden_layers=0, num_attention_heads=2)
    empty = HubClassifier.from_model(ViTForImageClassification(config)).save_pretrained(tmp_path / "empty")
    assert main(_argv(empty, tmp_path / "b", "--epochs", "0")) == 1
    assert "no prunable layers" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_recipe_config_validation():
    from hfnet.errors import HfnetError
    from hfnet.pruning.config import PruningConfig

    assert PruningConfig().method == "afr"
    with pytest.raises(HfnetError, match="unknown pruning method"):
        PruningConfig(method="obd")
    with pytest.raises(HfnetError, match="fewer than one batch"):
        PruningConfig(calibration_samples=8, calibration_batch_size=32)
    # the config round-trips through JSON (it is written into model cards and run summaries)
    config = PruningConfig(sparsity=0.95, method="snip", structured=True, head_fraction=0.25)
    assert PruningConfig(**json.loads(json.dumps(config.to_dict()))) == config


def test_cli_structured_saves_a_smaller_model_with_a_hub_card(tiny_vit_dir, tmp_path, capsys):
    import json

    from huggingface_hub import ModelCard

    out = tmp_path / "structured"
    argv = _argv(tiny_vit_dir, out, "--method", "afr", "--structured", "--sparsity", "0.5", "--max-steps", "2")
    assert main([*argv, "--logging-steps", "1"]) == 0
    printed = capsys.readouterr().out
    assert "params_after" in printed and "heads_per_block_after" in printed
    before = json.loads((tiny_vit_dir / "config.json").read_text())
    after = json.loads((out / "config.json").read_text())
    smaller = after["num_attention_heads"] < before["num_attention_heads"]
    assert smaller or after["intermediate_size"] < before["intermediate_size"]
    assert after["hidden_size"] == before["hidden_size"]
    clf = load_classifier(out)
    assert sum(p.numel() for p in clf.parameters()) < sum(
        p.numel() for p in load_classifier(tiny_vit_dir).parameters()
    )
    card = ModelCard.load(out / "README.md")
    results = card.data.eval_results
    assert results and any(r.metric_type == "accuracy" for r in results)
    assert str(tmp_path) not in card.content and "REPO_ID" not in card.content
    assert "structured" in card.content and "hfnet prune" in card.content
    # the fine-tuning losses are plotted into the checkpoint folder and embedded in the card
    assert (out / "training_curves.png").stat().st_size > 5_000 and "training_curves.png" in card.content


def test_cli_structured_refuses_what_it_cannot_do_and_writes_nothing(tiny_timm_dir, tiny_resnet_dir, tmp_path, capsys):
    # timm's ViT cannot keep head_dim with fewer heads: neurons alone cannot reach 75 % of the block weights
    out = tmp_path / "t"
    assert (
        main(
            _argv(
                tiny_timm_dir, out, "--structured", "--sparsity", "0.75", "--max-steps", "0", "--allow-untrained-head"
            )
        )
        == 1
    )
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "neuron" in err[0] and not out.exists()
    # a ResNet has no attention heads or MLP neurons hfnet understands
    out = tmp_path / "r"
    assert (
        main(
            _argv(tiny_resnet_dir, out, "--structured", "--sparsity", "0.5", "--epochs", "0", "--allow-untrained-head")
        )
        == 1
    )
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "head" in err[0] and not out.exists()


def test_cli_report_to_tensorboard_keeps_the_logs_and_no_empty_folders(tiny_vit_dir, tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    monkeypatch.setenv("TENSORBOARD_LOGGING_DIR", "")  # undone after the test, whatever hfnet sets meanwhile
    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR")
    monkeypatch.chdir(tmp_path)
    out, logs = tmp_path / "pruned", tmp_path / "tb"
    argv = _argv(tiny_vit_dir, out, "--method", "magnitude", "--max-steps", "2", "--logging-steps", "1")
    assert main([*argv, "--report-to", "tensorboard", "--logging-dir", str(logs)]) == 0
    events = list(logs.rglob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 0  # the losses were written where we asked
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pruned", "tb"]  # no stray run folder anywhere
    assert not any(p.is_dir() for p in out.iterdir())  # and nothing but the checkpoint files in the result


def _card_config(folder) -> dict:
    text = (folder / "README.md").read_text()
    return json.loads(text.split("Settings:\n\n```json\n", 1)[1].split("\n```", 1)[0])


def test_the_config_a_card_records_passed_back_gives_the_same_result(tiny_vit_dir, tmp_path, monkeypatch, capsys):
    import shutil

    from hfnet.jobs import make_parser

    monkeypatch.chdir(tmp_path)
    shutil.copytree(tiny_vit_dir, tmp_path / "model")
    argv = _argv("model", "first", "--method", "snip", "--sparsity", "0.5", "--max-steps", "2", "--json", "a.json")
    assert main([*argv, "--logging-steps", "1"]) == 0
    out, err = capsys.readouterr()
    assert "'loss'" not in out and "train_runtime" not in out  # the Trainer's log lines go to stderr
    assert "'loss'" in err and out.splitlines()[-1] == "wrote a.json"
    argv += ["--logging-steps", "1"]
    config = _card_config(tmp_path / "first")
    assert config["method"] == "snip" and config["max_steps"] == 2 and config["model"] == "model"
    (tmp_path / "run.yaml").write_text(json.dumps(config))  # JSON is YAML too
    again = ["--config", "run.yaml", "--output-dir", "second", "--json", "b.json"]
    parser = make_parser("prune")
    first_options = parser.parse_args_into_dataclasses(argv[1:])
    second_options = make_parser("prune").parse_args_into_dataclasses(again)
    assert [o for o in first_options if not hasattr(o, "output_dir") and not hasattr(o, "json")] == [
        o for o in second_options if not hasattr(o, "output_dir") and not hasattr(o, "json")
    ]
    assert main(["prune", *again]) == 0
    first, second = (json.loads((tmp_path / n).read_text()) for n in ("a.json", "b.json"))
    assert first["mask_sha256"] == second["mask_sha256"] and first["train_steps"] == second["train_steps"] == 2
    assert first["accuracy"] == second["accuracy"] and first["loss"] == pytest.approx(second["loss"], abs=1e-6)
    assert _card_config(tmp_path / "second") == {**config, "output_dir": "second", "json": "b.json"}
