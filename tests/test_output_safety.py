"""hfnet never deletes or overwrites a file it did not write: save_pretrained, run_pruning, merge and distill."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from hfnet._io import MANIFEST, atomic_dir, hfnet_written
from hfnet.classifier import load_classifier
from hfnet.errors import HfnetError

USER_FILES = {
    ".git/HEAD": "ref: refs/heads/main\n",
    ".git/config": "[core]\n",
    "notes.txt": "my notes",
    "src/a.py": "x=1",
}


def _user_folder(folder: Path) -> Path:
    for rel, text in USER_FILES.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return folder


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _assert_user_files_intact(folder: Path) -> None:
    for rel, text in USER_FILES.items():
        assert (folder / rel).read_text() == text, rel


# ---------------------------------------------------------------------- the three kinds of target, four writers
@pytest.fixture(params=["nonempty", "cwd", "home"])
def target(request, tmp_path, monkeypatch):
    """An existing folder full of user files: a project folder, the current directory ('.'), the home directory."""
    folder = _user_folder(tmp_path / "project")
    if request.param == "cwd":
        monkeypatch.chdir(folder)
        return request.param, folder, "."
    if request.param == "home":
        monkeypatch.setenv("HOME", str(folder))
        return request.param, folder, "~"
    return request.param, folder, str(folder)


def _check_refusal(kind: str, folder: Path, write, *, overwrite_allowed: bool = True) -> None:
    before = _snapshot(folder)
    with pytest.raises(HfnetError) as info:
        write(False)
    msg = str(info.value)
    assert "\n" not in msg and str(folder) in msg
    assert ("--overwrite" in msg) if kind != "home" else ("home directory" in msg)
    assert _snapshot(folder) == before  # nothing written, nothing removed
    if kind == "home":
        with pytest.raises(HfnetError, match="home directory"):
            write(True)  # never, whatever the flags
        assert _snapshot(folder) == before
        return
    inode = folder.stat().st_ino
    write(True)
    _assert_user_files_intact(folder)
    assert folder.stat().st_ino == inode  # written into, never replaced
    assert "config.json" in hfnet_written(folder) and "notes.txt" not in hfnet_written(folder)
    assert load_classifier(folder).num_classes > 0


def test_save_pretrained_target(target, tiny_vit_classifier):
    kind, folder, path = target
    _check_refusal(kind, folder, lambda ow: tiny_vit_classifier.save_pretrained(path, overwrite=ow))


def test_run_pruning_target(target, tiny_resnet_dir, digits_small):
    from hfnet.pruning.config import PruningConfig
    from hfnet.pruning.pipeline import run_pruning

    kind, folder, path = target
    config = PruningConfig(method="magnitude", sparsity=0.5, calibration_samples=32, calibration_batch_size=32)

    def write(ow):
        clf = load_classifier(tiny_resnet_dir)
        return run_pruning(clf, digits_small, config, None, save_dir=path, dataset_name="digits", overwrite=ow)

    _check_refusal(kind, folder, write)


def test_merge_target(target, tiny_resnet_dir, tmp_path_factory):
    from hfnet.merging.merge import merge_models

    kind, folder, path = target
    other = tmp_path_factory.mktemp("other") / "m"
    shutil.copytree(tiny_resnet_dir, other)
    _check_refusal(kind, folder, lambda ow: merge_models([tiny_resnet_dir, other], path, overwrite=ow))


@pytest.mark.parametrize("kind", ["nonempty", "cwd", "home"])
def test_distill_target(kind, tmp_path, monkeypatch, digits_small):
    from hfnet.distillation.chain import distill_chain
    from hfnet.distillation.config import DistillationConfig
    from hfnet.zoo import tiny_resnet

    folder = _user_folder(tmp_path / "project")
    path = str(folder)
    if kind == "cwd":
        monkeypatch.chdir(folder)
        path = "."
    elif kind == "home":
        monkeypatch.setenv("HOME", str(folder))
        path = "~"
    names = [str(i) for i in range(10)]
    args = DistillationConfig(
        output_dir=str(tmp_path / "work"), max_steps=1, per_device_train_batch_size=16, report_to="none", use_cpu=True
    )
    before = _snapshot(folder)

    def run(ow):
        teacher = tiny_resnet(names, image_size=16, embedding_size=8, hidden_sizes=(8, 16), seed=0)
        student = tiny_resnet(names, image_size=16, embedding_size=8, hidden_sizes=(8, 8), seed=1)
        return distill_chain([teacher, student], digits_small["train"], args, output_dir=path, overwrite=ow)

    with pytest.raises(HfnetError) as info:
        run(False)
    assert "\n" not in str(info.value) and str(folder) in str(info.value)
    assert _snapshot(folder) == before
    if kind == "home":
        with pytest.raises(HfnetError, match="home directory"):
            run(True)
        assert _snapshot(folder) == before
        return
    results = run(True)
    _assert_user_files_intact(folder)
    assert (folder / "student" / "model.safetensors").is_file()
    assert results[-1].output_dir is not None
    assert "student" in hfnet_written(folder) and "notes.txt" not in hfnet_written(folder)


# ---------------------------------------------------------------------- the rule in detail
def test_filesystem_root_refused(tiny_vit_classifier):
    with pytest.raises(HfnetError, match="filesystem root"):
        tiny_vit_classifier.save_pretrained("/", overwrite=True)


def test_empty_folder_and_rerun_need_no_overwrite(tmp_path, tiny_vit_classifier, tiny_timm_classifier):
    out = tmp_path / "empty"
    out.mkdir()
    tiny_vit_classifier.save_pretrained(out)
    assert (out / "preprocessor_config.json").is_file()
    # a rerun replaces hfnet's earlier result, including its files the new result does not have
    tiny_timm_classifier.save_pretrained(out)
    assert not (out / "preprocessor_config.json").exists()
    assert load_classifier(out).library == "timm"
    # once the user puts a file there, it is refused again
    (out / "mine.txt").write_text("mine")
    with pytest.raises(HfnetError, match="mine.txt"):
        tiny_vit_classifier.save_pretrained(out)


def test_overwrite_replaces_only_what_hfnet_writes(tmp_path, tiny_vit_classifier, tiny_timm_classifier):
    folder = _user_folder(tmp_path / "p")
    (folder / "README.md").write_text("the user's readme")
    tiny_timm_classifier.save_pretrained(folder, overwrite=True)  # no card: README.md is not an hfnet file here
    assert (folder / "README.md").read_text() == "the user's readme"
    _assert_user_files_intact(folder)
    from hfnet.cards import ModelCardInfo

    tiny_vit_classifier.save_pretrained(folder, card=ModelCardInfo(title="t", summary="s"), overwrite=True)
    assert (folder / "README.md").read_text().startswith("---")  # a file the new result has: replaced
    _assert_user_files_intact(folder)
    assert load_classifier(folder).library == "transformers"


def test_failure_halfway_keeps_previous_result_and_user_files(tmp_path, tiny_vit_classifier, monkeypatch):
    folder = _user_folder(tmp_path / "p")
    tiny_vit_classifier.save_pretrained(folder, overwrite=True)
    before = _snapshot(folder)

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(type(tiny_vit_classifier.model), "save_pretrained", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        tiny_vit_classifier.save_pretrained(folder, overwrite=True)
    assert _snapshot(folder) == before
    assert not [p for p in folder.iterdir() if p.name.startswith(".hfnet-") and p.name != MANIFEST]


def test_failure_while_moving_in_rolls_back(tmp_path, tiny_vit_classifier, monkeypatch):
    import hfnet._io as io

    folder = _user_folder(tmp_path / "p")
    tiny_vit_classifier.save_pretrained(folder, overwrite=True)
    before = _snapshot(folder)
    real_replace = os.replace
    calls = {"n": 0}

    def flaky(src, dst):
        if ".hfnet-tmp-" in str(src) and Path(dst).parent == folder:  # moving a new file in
            calls["n"] += 1
            if calls["n"] == 2:  # the old files are in the backup, one new file is in place
                raise OSError("I/O error")
        return real_replace(src, dst)

    monkeypatch.setattr(io.os, "replace", flaky)
    with pytest.raises(OSError, match="I/O error"):
        tiny_vit_classifier.save_pretrained(folder, overwrite=True)
    monkeypatch.setattr(io.os, "replace", real_replace)
    assert calls["n"] == 2
    assert _snapshot(folder) == before
    assert not [p for p in folder.iterdir() if p.name.startswith(".hfnet-") and p.name != MANIFEST]


def test_new_folder_failure_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "new") as tmp:
        (tmp / "a.txt").write_text("half")
        raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_written_files_follow_the_umask(tmp_path, mask, tiny_vit_classifier):
    from hfnet.cards import ModelCardInfo

    old = os.umask(mask)
    try:
        out = tiny_vit_classifier.save_pretrained(tmp_path / "a" / "m", card=ModelCardInfo(title="t", summary="s"))
    finally:
        os.umask(old)
    assert (out.stat().st_mode & 0o777) == 0o777 & ~mask
    for f in out.iterdir():
        assert (f.stat().st_mode & 0o777) == 0o666 & ~mask, f.name
    assert ((tmp_path / "a").stat().st_mode & 0o777) == 0o777 & ~mask


def test_output_options_declared_for_the_cli():
    import subprocess
    import sys

    from hfnet.options import OutputArguments

    assert OutputArguments(output_dir="o").overwrite is False
    with pytest.raises(HfnetError, match="hub-model-id"):
        OutputArguments(output_dir="o", push_to_hub=True)
    with pytest.raises(HfnetError, match="OWNER/NAME"):
        OutputArguments(output_dir="o", hub_model_id="no-owner")
    assert OutputArguments(output_dir="o", push_to_hub=True, hub_model_id="me/model", private=True).private
    # the declaration imports nothing heavy (the CLI builds --help from it)
    code = "import sys, hfnet.options; print(any(m in sys.modules for m in ('torch', 'transformers')))"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env).stdout.strip() == "False"
    )


def test_folder_of_hfnet_results_is_hfnets(tmp_path, tiny_vit_classifier):
    from hfnet._io import check_output_dir

    zoo = tmp_path / "zoo"
    tiny_vit_classifier.save_pretrained(zoo / "a")
    tiny_vit_classifier.save_pretrained(zoo / "b")
    assert check_output_dir(zoo) == zoo.resolve()  # only hfnet results inside
    (zoo / "b" / "mine.txt").write_text("mine")
    with pytest.raises(HfnetError, match="hfnet did not write"):
        check_output_dir(zoo)
