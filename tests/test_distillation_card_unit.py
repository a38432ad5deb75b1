"""The distillation card piece by piece: settings, lineage, datasets, config and the method text, without training."""

from __future__ import annotations

import dataclasses

import datasets
import pytest
from distill_setup import chain_models

from hfnet.cards import display_name
from hfnet.distillation.chain import StageResult, _card, _details, _lineage
from hfnet.distillation.config import DistillationConfig
from hfnet.distillation.data import TransferSet


@pytest.fixture(scope="module")
def models():
    teacher, assistant, student = chain_models()
    teacher.source, assistant.source, student.source = "org/teacher-model", "/local/assistant", None
    return teacher, assistant, student


def _args(**kw) -> DistillationConfig:
    base = dict(output_dir="/tmp/unused", temperature=3.0, alpha=0.7, num_train_epochs=2.0, max_steps=-1,
                learning_rate=1e-3, per_device_train_batch_size=16, seed=5, report_to=[])  # fmt: skip
    return DistillationConfig(**{**base, **kw})


def _transfer() -> TransferSet:
    images = datasets.Dataset.from_dict({"image": [None, None]})
    return TransferSet(images=images, name="fashion_mnist", split="train", removed={"train": 1, "eval": 0}, pool=10)


def test_settings_table_names_every_knob_and_the_transfer_set_only_when_there_is_one(models):
    teacher, assistant, student = models
    result = StageResult(name="student", teacher_name="assistant", model=student, metrics={"accuracy": 0.5, "x": "s"})
    chain = ["teacher", "assistant", "student"]
    info = _card(result, chain, _args(), "digits", chain_models=list(models))
    assert info.settings == {
        "temperature": 3.0,
        "alpha (soft weight)": 0.7,
        "merit delta": 0.0,
        "hint": "none",
        "epochs": 2.0,
        "max steps": -1,
        "learning rate": 1e-3,
        "batch size": 16,
        "seed": 5,
    }
    assert info.metrics == {"accuracy": 0.5}  # numbers only
    assert info.datasets == ["digits"] and info.eval_dataset == "digits" and info.eval_split == "test"
    assert info.base_model is None and info.base_model_relation == "finetune"
    assert info.title == "student: distilled from assistant" and info.settings_title == "Distillation"
    assert f"({sum(p.numel() for p in student.parameters()):,} parameters)" in info.summary
    assert info.config["chain"] == ["org/teacher-model", "/local/assistant", None]
    assert info.config["temperature"] == 3.0 and info.config["alpha"] == 0.7 and "output_dir" not in info.config
    with_transfer = _card(result, chain, _args(), "digits", chain_models=list(models), transfer=_transfer())
    assert with_transfer.settings["transfer set (unlabelled)"] == _transfer().describe()
    assert with_transfer.datasets == ["digits", "fashion_mnist"]
    same = _card(result, chain, _args(), "fashion_mnist", chain_models=list(models), transfer=_transfer())
    assert same.datasets == ["fashion_mnist"]  # listed once
    unnamed = _card(result, chain, _args(), None, chain_models=list(models), transfer=_transfer())
    assert unnamed.datasets == ["fashion_mnist"]
    no_accuracy = dataclasses.replace(result, metrics={"loss": 1.0})
    assert _card(no_accuracy, chain, _args(), "digits", chain_models=list(models)).eval_dataset is None
    assert _card(result, chain, _args(), None, chain_models=list(models)).eval_dataset == "evaluation set"
    recorded = _card(result, chain, _args(), "digits", chain_models=list(models), record={"alpha": 0.1}, command="c")
    assert recorded.config == {"alpha": 0.1} and recorded.command == "c"


def test_lineage_names_teacher_assistants_and_where_the_student_came_from(models):
    teacher, assistant, student = models
    result = StageResult(name="student", teacher_name="assistant", model=student)
    parents, who, shown = _lineage(result, ["teacher", "ta", "student"], list(models))
    assert parents == [("teacher", "org/teacher-model"), ("assistant (ta)", "/local/assistant")]
    assert who is student
    assert "assistant" in shown and shown != "`assistant`"  # the assistant's folder, not the stage name
    student.source = "org/student-init"
    try:
        parents, _, _ = _lineage(result, ["teacher", "ta", "student"], list(models))
        assert parents[-1] == ("student initialised from", "org/student-init")
    finally:
        student.source = None
    assistant.source = None
    try:
        parents, _, shown = _lineage(result, ["teacher", "ta", "student"], list(models))
        assert parents[1] == ("assistant (ta)", "ta") and shown == "`assistant`"
    finally:
        assistant.source = "/local/assistant"
    bare = StageResult(name="s", teacher_name="t", model=student)
    assert _lineage(bare, ["t", "s"], []) == ([], student, "`t`")


def test_details_describe_the_loss_and_each_option_that_changes_it():
    plain = _details(["t", "s"], _args(), None)
    assert plain.startswith("Distillation chain: t -> s.\n\nLoss: `(1 - alpha) * CE(student, y)")
    assert plain.endswith("(Hinton et al.).") and "merit" not in plain and "hint" not in plain
    merit = _details(["t", "s"], _args(merit_delta=0.1), None)
    assert ", per-sample alpha +/- merit delta (merit-based distillation)." in merit
    hint = _details(["t", "s"], _args(hint="a:b"), None)
    assert hint.endswith(", after a FitNets hint stage.")
    transfer = _details(["t", "s"], _args(), _transfer())
    assert f"\n\nTransfer set: {_transfer().describe()}, appended" in transfer and "label -100" in transfer


def test_card_tags_the_method_tells_the_transfer_set_and_without_models_records_the_stage_names(models):
    student = models[-1]
    result = StageResult(name="student", teacher_name="teacher", model=student, metrics={"accuracy": 0.5})
    info = _card(result, ["teacher", "student"], _args(), "digits", transfer=_transfer())
    assert info.tags == ["distillation", "knowledge-distillation"]
    assert info.details == _details(["teacher", "student"], _args(), _transfer())
    assert info.details.endswith(
        "trained on the soft term only (alpha 1, no hard term); the evaluation never used them."
    )
    assert info.config["chain"] == ["teacher", "student"]  # no models given: the stage names
    assert info.parents == [] and "`teacher`" in info.summary


def test_card_base_model_is_the_students_hub_id_and_a_two_model_chain_names_the_teacher_by_its_source(models):
    teacher, _, student = models
    student.hub_id, student.source = "org/student-init", "org/student-init"
    try:
        result = StageResult(name="student", teacher_name="teacher", model=student)
        info = _card(result, ["teacher", "student"], _args(), "digits", chain_models=[teacher, student])
        assert info.base_model == "org/student-init"
        assert info.parents == [("teacher", "org/teacher-model"), ("student initialised from", "org/student-init")]
        assert display_name("org/teacher-model") in info.summary and "`teacher`" not in info.summary
    finally:
        student.hub_id, student.source = None, None
