"""``hfnet merge`` and ``hfnet filters`` end to end through the CLI entry point."""

from __future__ import annotations

import json

import pytest

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
