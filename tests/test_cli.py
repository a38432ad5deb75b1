"""The CLI: one-line errors and non-zero exits, nothing written on failure."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hfnet._table import format_table
from hfnet.commands import main


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for name in ("rank", "prune", "merge", "distill", "filters", "push", "demo", "evaluate"):
        assert name in out


@pytest.mark.parametrize(
    ("argv", "suggestion"), [(["compres", "x"], "did you mean 'compress'?"), (["-v", "zzzz"], None)]
)
def test_unknown_command_is_one_line_exit_1(argv, suggestion, capsys):
    assert main(argv) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and captured.out == ""
    assert lines[0].startswith(f"error: unknown command {argv[-2] if suggestion else argv[-1]!r}")
    assert "prune" in lines[0] and "finetune" in lines[0]
    assert (suggestion in lines[0]) if suggestion else ("did you mean" not in lines[0])


def test_no_command_prints_help_exit_2(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_offline_hub_id_one_line_no_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "hfnet.commands", "evaluate", "google/vit-base-patch16-224", "--dataset", "digits"],
        capture_output=True,
        text=True,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: cannot load 'google/vit-base-patch16-224'")
    assert "Traceback" not in proc.stderr


def test_evaluate_local_folder(tiny_resnet_dir, capsys):
    assert main(["evaluate", str(tiny_resnet_dir), "--dataset", "digits", "--test-samples-per-class", "2"]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "top5_accuracy" in out


def test_push_missing_folder(tmp_path, capsys):
    assert main(["push", str(tmp_path / "nothing"), "--repo-id", "me/x"]) == 1
    assert "no config.json" in capsys.readouterr().err


def test_format_table():
    text = format_table([{"a": 1.0, "b": "x"}, {"a": 0.5, "c": 2}])
    lines = text.splitlines()
    assert lines[0].split() == ["a", "b", "c"] and lines[2].split() == ["1", "x"]


def test_evaluate_warns_when_the_model_classes_are_not_the_datasets(tmp_path, caplog, capsys):
    import logging

    from hfnet.builtin_datasets import FASHION_MNIST_CLASSES
    from hfnet.zoo import tiny_resnet

    fashion = tiny_resnet(FASHION_MNIST_CLASSES, image_size=16).save_pretrained(tmp_path / "fashion")  # 10 classes
    with caplog.at_level(logging.WARNING, logger="hfnet.evaluation"):
        assert main(["evaluate", str(fashion), "--dataset", "digits", "--test-samples-per-class", "2"]) == 0
    assert any("not the dataset's" in r.getMessage() for r in caplog.records)
    assert "accuracy" in capsys.readouterr().out  # still reported, with the warning beside it
