"""``hfnet merge`` and ``hfnet filters`` end to end through the CLI entry point."""

from __future__ import annotations

import json

import pytest
import torch

from hfnet.commands import main


def test_merge_cli_writes_a_loadable_folder(tiny_resnet_dir, tmp_path, capsys):
    out = tmp_path / "merged"
    rc = main(["merge", str(tiny_resnet_dir), str(tiny_resnet_dir), "--output", str(out), "--weights", "1", "2"])
    assert rc == 0
    assert (out / "model.safetensors").is_file() and (out / "README.md").is_file()
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "nope"], "unknown merge method"),
        (["--weights", "1", "2", "3"], "3 weights given for 2 models"),
    ],
)
def test_merge_cli_errors_are_one_line(tiny_resnet_dir, tmp_path, capsys, extra, message):
    out = tmp_path / "merged"
    rc = main(["merge", str(tiny_resnet_dir), str(tiny_resnet_dir), "--output", str(out), *extra])
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith("error: ") and message in err and "Traceback" not in err
    assert not out.exists()


def test_merge_cli_single_model(tiny_resnet_dir, tmp_path, capsys):
    rc = main(["merge", str(tiny_resnet_dir), "--output", str(tmp_path / "m")])
    assert rc == 1 and "at least two models" in capsys.readouterr().err


def test_filters_cli(tiny_resnet_dir, tmp_path, capsys):
    png, js = tmp_path / "f.png", tmp_path / "f.json"
    rc = main(["filters", str(tiny_resnet_dir), str(tiny_resnet_dir), "--plot", str(png), "--json", str(js)])
    assert rc == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    data = json.loads(js.read_text())
    assert data["layer"] == "resnet.embedder.embedder.convolution.weight"
    assert data["summary"]["diagonal_fraction_raw"] == 1.0
    assert "match_fraction" in capsys.readouterr().out
    rc = main(["filters", str(tiny_resnet_dir), str(tiny_resnet_dir), "--metric", "euclidean", "--layer", "nope"])
    assert rc == 1 and "no conv layer 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--weights", "1", "nan"], "--weights must be a finite number"),
        (["--weights", "inf", "1"], "--weights must be a finite number"),
        (["--method", "ties", "--density", "-0.5"], "--density must be in (0, 1]"),
        (["--method", "slerp", "--t", "nan"], "--t must be a finite number"),
        (["--bn-samples", "-1"], "--bn-samples must be >= 1"),
    ],
)
def test_merge_cli_bad_numbers_exit_1_and_write_nothing(tiny_resnet_dir, tmp_path, capsys, extra, message):
    out = tmp_path / "merged"
    rc = main(["merge", str(tiny_resnet_dir), str(tiny_resnet_dir), "--output", str(out), *extra])
    err = capsys.readouterr().err
    assert rc == 1 and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_merge_cli_eval_dataset_puts_results_in_the_card(tiny_resnet_dir, tmp_path, capsys):
    from huggingface_hub import ModelCard

    out = tmp_path / "merged"
    argv = ["merge", str(tiny_resnet_dir), str(tiny_resnet_dir), "--output", str(out), "--eval-dataset", "digits"]
    assert main([*argv, "--bn-dataset", "digits", "--bn-samples", "64"]) == 0
    assert "accuracy" in capsys.readouterr().out
    card = ModelCard.load(out / "README.md")
    assert card.data.eval_results and card.data.eval_results[0].metric_name == "Top-1 accuracy"
    assert "digits (train split, at most 64 images" in card.content


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--threshold", "nan"], "--threshold must be a finite number"),
        (["--threshold", "1.5"], "--threshold must be in [-1, 1]"),
        (["--seed", "-1"], "--seed must be >= 0"),
    ],
)
def test_filters_cli_bad_numbers_exit_1(tiny_resnet_dir, tmp_path, capsys, extra, message):
    png = tmp_path / "f.png"
    rc = main(["filters", str(tiny_resnet_dir), str(tiny_resnet_dir), "--plot", str(png), *extra])
    err = capsys.readouterr().err
    assert rc == 1 and message in err and len(err.strip().splitlines()) == 1 and not png.exists()


def test_job_configs_are_importable_without_torch():
    import subprocess
    import sys

    code = (
        "import sys; import hfnet.jobs.merge, hfnet.jobs.filters, hfnet.merging.config, hfnet.analysis.config; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'timm')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_merge_card_config_passed_back_gives_the_same_merge(tmp_path, monkeypatch):
    """The config a merge card records (parents by folder name) is a ``--config`` file for the same merge."""
    from safetensors.torch import load_file

    from hfnet.zoo import tiny_resnet

    monkeypatch.chdir(tmp_path)
    for seed, name in enumerate("ab"):
        tiny_resnet([str(k) for k in range(10)], embedding_size=8, hidden_sizes=(8, 16), seed=seed).save_pretrained(
            name
        )
    assert main(["merge", "a", "b", "--weights", "1", "3", "--output-dir", "m1"]) == 0
    recorded = (tmp_path / "m1" / "README.md").read_text().split("```json\n")[1].split("\n```")[0]
    assert json.loads(recorded)["models"] == ["a", "b"] and json.loads(recorded)["weights"] == [1.0, 3.0]
    (tmp_path / "config.json").write_text(recorded)
    assert main(["merge", "--config", "config.json", "--output-dir", "m2"]) == 0
    first, again = load_file(tmp_path / "m1" / "model.safetensors"), load_file(tmp_path / "m2" / "model.safetensors")
    assert first.keys() == again.keys() and all(torch.equal(first[k], again[k]) for k in first)
