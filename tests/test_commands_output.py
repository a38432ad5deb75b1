"""The output-folder rule through the command line: prune, merge and distill never lose a user's file, whether
--output-dir is a non-empty project folder (with .git), the current directory or the home directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from hfnet.commands import main


def _user_project(folder: Path) -> dict[str, bytes]:
    """A user's folder: a git repo and a notes file; returns {relative path: bytes} to compare against later."""
    (folder / ".git" / "objects").mkdir(parents=True)
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (folder / "notes.md").write_text("my notes\n")
    return _snapshot(folder)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _argv(job: str, tiny_vit_dir, tiny_resnet_dir, out: str) -> list[str]:
    if job == "prune":
        return ["prune", str(tiny_vit_dir), "--dataset", "digits", "--samples-per-class", "4",
                "--test-samples-per-class", "1", "--calibration-samples", "8", "--calibration-batch-size", "8",
                "--method", "magnitude", "--epochs", "0", "--max-steps", "0", "--allow-untrained-head",
                "--output-dir", out]  # fmt: skip
    if job == "merge":
        return ["merge", str(tiny_resnet_dir), str(tiny_resnet_dir), "--output-dir", out]
    return ["distill", "--teacher", str(tiny_resnet_dir), "--student", "zoo:tiny_resnet:embedding_size=8,hidden_sizes=8x16",
            "--image-size", "16", "--dataset", "digits", "--samples-per-class", "3", "--test-samples-per-class", "1",
            "--max-steps", "1", "--batch-size", "8", "--output-dir", out]  # fmt: skip


@pytest.mark.parametrize("job", ["prune", "merge", "distill"])
def test_non_empty_folder_is_refused_then_written_beside_with_overwrite(
    job, tiny_vit_dir, tiny_resnet_dir, tmp_path, capsys
):
    project = tmp_path / "my-project"
    project.mkdir()
    before = _user_project(project)
    assert main(_argv(job, tiny_vit_dir, tiny_resnet_dir, str(project))) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "hfnet did not write" in err[0] and "--overwrite" in err[0]
    assert _snapshot(project) == before  # refused: nothing written at all
    assert main([*_argv(job, tiny_vit_dir, tiny_resnet_dir, str(project)), "--overwrite"]) == 0
    after = _snapshot(project)
    assert {k: after[k] for k in before} == before  # every user file still there, byte for byte
    assert len(after) > len(before)  # and the result beside them


@pytest.mark.parametrize("job", ["prune", "merge"])
def test_current_directory_keeps_every_file(job, tiny_vit_dir, tiny_resnet_dir, tmp_path, monkeypatch, capsys):
    project = tmp_path / "cwd-project"
    project.mkdir()
    before = _user_project(project)
    monkeypatch.chdir(project)
    assert main(_argv(job, tiny_vit_dir, tiny_resnet_dir, ".")) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert main([*_argv(job, tiny_vit_dir, tiny_resnet_dir, "."), "--overwrite"]) == 0
    after = _snapshot(project)
    assert {k: after[k] for k in before} == before


def test_home_directory_is_refused_whatever_the_flags(tiny_resnet_dir, tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    home.mkdir()
    before = _user_project(home)
    monkeypatch.setenv("HOME", str(home))
    for extra in ([], ["--overwrite"]):
        assert main(["merge", str(tiny_resnet_dir), str(tiny_resnet_dir), "--output-dir", "~", *extra]) == 1
        assert "home directory" in capsys.readouterr().err
    assert _snapshot(home) == before


def test_a_user_file_named_like_hfnet_output_is_theirs_until_overwrite(tiny_resnet_dir, tmp_path, capsys):
    project = tmp_path / "p"
    project.mkdir()
    (project / "config.json").write_text('{"mine": true}\n')
    assert main(["merge", str(tiny_resnet_dir), str(tiny_resnet_dir), "--output-dir", str(project)]) == 1
    assert "config.json" in capsys.readouterr().err
    assert (project / "config.json").read_text() == '{"mine": true}\n'
