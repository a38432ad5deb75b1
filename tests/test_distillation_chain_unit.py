"""The chain's steps without training: stage save options, Trainer folders, a stage's settings, its result and save
(``distill`` and ``finish`` replaced by recorders), the transfer set's resolution and the chain checks."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import datasets
import pytest
from distill_setup import chain_models

from hfnet import _io
from hfnet.distillation import chain
from hfnet.distillation.chain import (
    StageResult,
    _check_chain,
    _resolve_transfer_set,
    _run_stage,
    _save_options,
    _stage_args,
    _stage_metrics,
    _stage_save,
    _trainer_root,
    _transfer_from_args,
)
from hfnet.distillation.config import DistillationConfig
from hfnet.distillation.data import TransferSet
from hfnet.errors import HfnetError
from hfnet.finish import SaveOptions
from hfnet.zoo import tiny_resnet


@pytest.fixture(scope="module")
def models():
    return list(chain_models())


def _args(**kw) -> DistillationConfig:
    return DistillationConfig(**{"output_dir": "/tmp/unused", "alpha": 0.7, "report_to": [], **kw})


def _transfer(n: int = 2, split: str = "train") -> TransferSet:
    images = datasets.Dataset.from_dict({"image": [None] * n})
    return TransferSet(images=images, name="fashion_mnist", split=split, removed={"train": 1, "eval": 0}, pool=10)


def _params(model) -> float:
    return float(sum(p.numel() for p in model.parameters()))


def test_save_options_take_the_arguments_given_else_the_push_settings_of_args(tmp_path):
    args = _args(push_to_hub=True, hub_model_id="org/from-args", hub_private_repo=True)
    save = _save_options(args, tmp_path, True, None, None, None)
    assert save == SaveOptions(
        str(tmp_path), overwrite=True, push_to_hub=True, hub_model_id="org/from-args", private=True
    )
    given = _save_options(args, tmp_path, False, False, "org/given", False)
    assert given == SaveOptions(str(tmp_path), push_to_hub=False, hub_model_id="org/given", private=False)
    assert _save_options(_args(), None, False, None, None, None) == SaveOptions()


def test_only_the_last_stage_is_pushed():
    save = SaveOptions("out", push_to_hub=True, hub_model_id="org/student")
    assert [_stage_save(save, i, 4).push_to_hub for i in (1, 2, 3)] == [False, False, True]
    assert _stage_save(save, 3, 4).hub_model_id == "org/student" and _stage_save(save, 3, 4).output_dir == "out"
    assert _stage_save(SaveOptions("out"), 3, 4).push_to_hub is False


def test_trainer_files_go_where_args_say_but_never_into_the_checkpoint_folder(tmp_path):
    out = str(tmp_path / "out")
    assert _trainer_root(SimpleNamespace(output_dir=str(tmp_path / "t")), out) == tmp_path / "t"
    assert _trainer_root(SimpleNamespace(output_dir=None), out) == tmp_path / "out" / "runs"
    assert _trainer_root(SimpleNamespace(output_dir=None), None) == Path(".")
    assert _trainer_root(SimpleNamespace(output_dir=out), out) == tmp_path / "out" / "runs"
    assert _trainer_root(SimpleNamespace(output_dir=str(tmp_path / "t")), None) == tmp_path / "t"


def test_a_stage_has_its_hint_and_trainer_folder_and_the_trainer_never_pushes(tmp_path):
    args = _args(hint="a:b", push_to_hub=True, hub_model_id="org/x", temperature=3.0)
    stage = _stage_args(args, "c:d", tmp_path / "runs" / "student")
    assert stage.hint == "c:d" and stage.output_dir == str(tmp_path / "runs" / "student")
    assert stage.push_to_hub is False and stage.temperature == 3.0 and args.push_to_hub is True
    assert _stage_args(args, None, tmp_path).hint is None


def test_stage_metrics_keep_accuracy_and_loss_and_add_the_parameters(models):
    student = models[-1]
    measured = {"accuracy": 0.25, "loss": 1.5, "runtime": 3.0}
    assert _stage_metrics(measured, student) == {"accuracy": 0.25, "loss": 1.5, "parameters": _params(student)}
    assert _stage_metrics({}, student) == {"parameters": _params(student)}


class _Recorder:
    """Stands in for ``distill``: records its arguments, writes into the Trainer folder when told, returns a trainer."""

    def __init__(self, write: bool):
        self.calls, self.write = [], write

    def __call__(self, student, teacher, train_dataset, args, **kw):
        self.calls.append(dict(student=student, teacher=teacher, train=train_dataset, args=args, **kw))
        Path(args.output_dir).mkdir(parents=True)
        if self.write:
            (Path(args.output_dir) / "log.txt").write_text("log")
        return SimpleNamespace(state=SimpleNamespace(log_history=[{"loss": 2.0, "step": 1}]))


def _stage(models, save, args, monkeypatch, *, i=2, write=False, eval_dataset=None, transfer=None, **card_kwargs):
    distill = _Recorder(write)
    monkeypatch.setattr(chain, "distill", distill)
    names = ["teacher", "ta", "student"]
    result = _run_stage(i, models, names, "x:y", "TRAIN", eval_dataset, args, save, True, card_kwargs, transfer)
    return result, distill.calls


def test_an_unsaved_stage_distills_the_previous_model_and_measures_the_student(models, tmp_path, monkeypatch, caplog):
    teacher, assistant, student = models
    evaluated = []

    def evaluate(model, dataset, progress):
        evaluated.append((model, dataset, progress))
        return {"accuracy": 0.5, "loss": 0.75, "runtime": 9.0}

    monkeypatch.setattr(chain, "evaluate_classifier", evaluate)
    args = _args(output_dir=str(tmp_path / "trainer"))
    with caplog.at_level(logging.INFO, logger=chain.__name__):
        result, calls = _stage(models, SaveOptions(), args, monkeypatch, eval_dataset="EVAL", transfer=_transfer(3))
    assert [r.getMessage() for r in caplog.records] == ["stage 2/2: ta -> student"]
    (call,) = calls
    assert call["student"] is student and call["teacher"] is assistant and call["train"] == "TRAIN"
    assert call["eval_dataset"] == "EVAL" and call["train_augment"] is True and len(call["unlabeled"]) == 3
    assert call["args"].hint == "x:y" and call["args"].output_dir == str(tmp_path / "trainer" / "student")
    assert call["args"].push_to_hub is False
    assert not (tmp_path / "trainer").exists()  # the empty Trainer folders it made are gone
    assert evaluated == [(student, "EVAL", False)]
    assert result == StageResult(
        "student", "ta", student, {"accuracy": 0.5, "loss": 0.75, "parameters": _params(student)},
        [{"loss": 2.0, "step": 1}], None,
    )  # fmt: skip
    result, calls = _stage(models, SaveOptions(), args, monkeypatch, write=True)
    assert calls[0]["unlabeled"] is None and calls[0]["eval_dataset"] is None
    assert result.metrics == {"parameters": _params(student)} and len(evaluated) == 1  # nothing to evaluate on
    assert (tmp_path / "trainer" / "student" / "log.txt").is_file()  # a Trainer folder with files stays


def test_a_saved_stage_goes_through_finish_with_its_card_and_is_recorded_as_hfnets(models, tmp_path, monkeypatch):
    student = models[-1]
    finished = []

    def finish(classifier, save, card, *, eval_dataset, log_history):
        finished.append(dict(classifier=classifier, save=save, eval=eval_dataset, log=log_history))
        finished[-1]["card"] = card({"accuracy": 0.5, "loss": 0.25})
        Path(save.output_dir).mkdir()

    monkeypatch.setattr(chain, "finish", finish)
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("mine")  # another's file: only with overwrite
    save = SaveOptions(str(out), overwrite=True)
    kwargs = dict(dataset_name="digits", command="hfnet distill", record=None, transfer=None)
    result, _ = _stage(
        models, save, _args(output_dir=str(out)), monkeypatch, write=True, eval_dataset="EVAL", **kwargs
    )
    (done,) = finished
    assert done["classifier"] is student and done["eval"] == "EVAL" and done["log"] == [{"loss": 2.0, "step": 1}]
    assert done["save"] == SaveOptions(str(out / "student"), overwrite=True)
    card = done["card"]
    assert card.title == "student: distilled from ta" and card.command == "hfnet distill"
    assert card.datasets == ["digits"] and card.settings["hint"] == "x:y"
    assert card.details.startswith("Distillation chain: teacher -> ta -> student.")
    assert card.config["chain"] == [None, None, None] and card.config["hint"] == "x:y"
    assert result.output_dir == out / "student"
    assert result.metrics == {"accuracy": 0.5, "loss": 0.25, "parameters": _params(student)}
    assert _io.hfnet_written(out) == {"student", "runs", _io.MANIFEST}
    with pytest.raises(HfnetError):
        _stage(
            models, SaveOptions(str(tmp_path / "out")), _args(output_dir=str(tmp_path / "t")), monkeypatch, **kwargs
        )
    other = tmp_path / "other"
    _stage(models, SaveOptions(str(other)), _args(output_dir=str(tmp_path / "t")), monkeypatch, write=True, **kwargs)
    assert _io._read_manifest(other) == {"student"}  # the Trainer's folder is elsewhere, though it exists
    finished.clear()
    middle = tmp_path / "middle"
    _stage(models, SaveOptions(str(middle)), _args(output_dir=str(middle)), monkeypatch, i=1, **kwargs)
    card = finished[-1]["card"]  # an assistant's card: the chain up to it, and the assistant as the student
    assert card.details.startswith("Distillation chain: teacher -> ta.") and len(card.config["chain"]) == 2
    assert _io._read_manifest(middle) == {"ta"}  # its Trainer folder was left empty and removed


def test_a_stage_saved_by_another_process_keeps_empty_metrics(models, tmp_path, monkeypatch):
    monkeypatch.setattr(chain, "finish", lambda *a, **kw: None)  # not the main process: no card is rendered
    result, _ = _stage(models, SaveOptions(str(tmp_path / "out")), _args(output_dir=str(tmp_path)), monkeypatch)
    assert result.metrics == {} and result.output_dir == tmp_path / "out" / "student"


def test_a_given_transfer_set_is_checked_against_every_model_and_named_in_args(models, monkeypatch, caplog):
    checked = []
    monkeypatch.setattr(chain, "check_transfer_images", lambda images, prep: checked.append((images, prep)))
    transfer = _transfer(4, split="validation")
    with caplog.at_level(logging.INFO, logger=chain.__name__):
        args, resolved = _resolve_transfer_set(_args(), transfer, models, ["t", "a", "s"], "TRAIN", "EVAL")
    assert [r.getMessage() for r in caplog.records] == [f"transfer set: {transfer.describe()}"]
    assert resolved is transfer
    assert (args.unlabeled_dataset, args.unlabeled_split, args.unlabeled_samples) == ("fashion_mnist", "validation", 4)
    assert checked == [(transfer.images, {n: m.preprocessing for n, m in zip(["t", "a", "s"], models)})]
    named = _args(unlabeled_dataset="mine", unlabeled_samples=9)
    args, _ = _resolve_transfer_set(named, transfer, models, ["t", "a", "s"], "TRAIN", "EVAL")
    assert args is named  # already named: kept as given
    args, none = _resolve_transfer_set(named := _args(), None, models, ["t", "a", "s"], "TRAIN", "EVAL")
    assert none is None and args is named and len(checked) == 2


def test_the_transfer_set_args_name_is_loaded_without_the_training_and_evaluation_images(models, monkeypatch):
    loaded = []

    def load(name, split, **kw):
        loaded.append((name, split, kw))
        return _transfer(5)

    monkeypatch.setattr(chain, "load_transfer_set", load)
    monkeypatch.setattr(chain, "check_transfer_images", lambda images, prep: None)
    args = _args(
        unlabeled_dataset="digits", unlabeled_split="test", unlabeled_samples=7, unlabeled_image_column="img", seed=3
    )
    assert _transfer_from_args(args, "TRAIN", "EVAL").name == "fashion_mnist"
    expected = dict(samples=7, image_column="img", seed=3, exclude={"train": "TRAIN", "eval": "EVAL"})
    assert loaded == [("digits", "test", expected)]
    resolved_args, transfer = _resolve_transfer_set(args, None, models, ["t", "a", "s"], "TRAIN", "EVAL")
    assert len(transfer.images) == 5 and resolved_args is args and loaded == [("digits", "test", expected)] * 2


def test_the_chain_checks_names_and_hints_before_any_training(models):
    names, hints = _check_chain(models, _args(), None, None)
    assert names == ["teacher", "assistant_1", "student"] and hints == [None, None]
    assert _check_chain(models[:2], _args(hint="resnet.embedder:resnet.embedder"), None, None) == (
        ["teacher", "student"], ["resnet.embedder:resnet.embedder"],
    )  # fmt: skip
    assert _check_chain(models, _args(), ["t", "a", "s"], (None, None)) == (["t", "a", "s"], [None, None])
    with pytest.raises(HfnetError, match="^a distillation chain needs a teacher and a student$"):
        _check_chain(models[:1], _args(), None, None)
    with pytest.raises(HfnetError, match="^2 names for 3 models$"):
        _check_chain(models, _args(), ["t", "s"], None)
    with pytest.raises(HfnetError, match=r"^1 hints for 2 stages; give one \(or None\) per stage$"):
        _check_chain(models, _args(), None, [None])
    with pytest.raises(HfnetError, match="unknown student hint layer 'nope'"):
        _check_chain(models, _args(), None, [None, "nope:resnet.embedder"])
    with pytest.raises(HfnetError, match="unknown teacher hint layer 'nope'"):
        _check_chain(models, _args(), None, ["resnet.embedder:nope", None])
    other = tiny_resnet(["x", "y", "z"], embedding_size=4, hidden_sizes=(4, 8), depths=(1, 1), seed=2)
    with pytest.raises(HfnetError):
        _check_chain([*models, other], _args(), None, None)
    with pytest.raises(HfnetError):
        _check_chain([models[0], other], _args(), None, None)


def test_each_hint_layer_is_looked_up_in_its_own_stages_student_and_teacher(models):
    teacher, _, student = models
    deep = tiny_resnet(["a", "b", "c"], embedding_size=4, hidden_sizes=(4, 8), depths=(2, 1), seed=3)
    hint = "resnet.encoder.stages.0.layers.0:resnet.encoder.stages.0.layers.1"  # the second layer: only in ``deep``
    assert _check_chain([deep, student], _args(), None, [hint])[1] == [hint]
    assert _check_chain([deep, teacher, student], _args(), None, [hint, None])[1] == [hint, None]
