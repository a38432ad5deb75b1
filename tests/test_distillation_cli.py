import json

import pytest
import torch
from distill_setup import STUDENT, distill_argv

from hfnet.classifier import load_classifier
from hfnet.commands import main

ASSISTANT = "zoo:tiny_resnet:embedding_size=8,hidden_sizes=8x16"


_common = distill_argv


def test_cli_chain_with_hint_and_merit(tiny_resnet_dir, tmp_path, capsys):
    out = tmp_path / "distilled"
    argv = _common(tiny_resnet_dir, out) + [
        "--assistant",
        ASSISTANT,
        "--hint",
        "vit.layers.0:resnet.encoder.stages.0",
        "--hint-steps",
        "1",
        "--merit",
        "0.1",
        "--logging-steps",
        "1",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "assistant_1" in printed and "student" in printed
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [r["model"] for r in rows] == ["teacher", "assistant_1", "student"]
    assert rows[2]["parameters"] < rows[0]["parameters"]
    student = load_classifier(out / "student")
    assert student.library == "transformers" and student.num_classes == 10
    assert student.preprocessing.image_size == (16, 16)
    card = (out / "student" / "README.md").read_text()
    assert "teacher -> assistant_1 -> student" in card and "merit" in card
    # each stage's losses are plotted into its folder and embedded in its card
    for stage in ("assistant_1", "student"):
        assert (out / stage / "training_curves.png").stat().st_size > 5_000
        assert "training_curves.png" in (out / stage / "README.md").read_text()
    assert torch.isfinite(student.logits(torch.zeros(1, 3, 16, 16))).all()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--temperature", "0"], "temperature must be > 0"),
        (
            ["--hint", "vit.nope:resnet.encoder.stages.0"],
            "unknown student hint layer 'vit.nope'; available block names: vit.layers.0, vit.layers.1",
        ),
        (["--hint", "vit.layers.0"], "STUDENT_LAYER:TEACHER_LAYER"),
        (["--student", "zoo:big_vit"], "unknown zoo model"),
    ],
)
def test_cli_bad_input_one_line_error(tiny_resnet_dir, tmp_path, capsys, extra, message):
    assert main(_common(tiny_resnet_dir, tmp_path / "x") + extra) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1]
    assert not (tmp_path / "x" / "student").exists()


def test_cli_teacher_with_other_classes(tiny_vit_dir, tmp_path, capsys):
    # the conftest ViT predicts 3 classes (cat, dog, bird), digits has 10
    assert main(_common(tiny_vit_dir, tmp_path / "y")) == 1
    assert "predicts 3 classes" in capsys.readouterr().err


def test_ctrl_c_during_distill_leaves_no_new_folder(tiny_resnet_dir, tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("hfnet.distillation.chain.distill", interrupted)
    out = tmp_path / "distilled"
    assert main(_common(tiny_resnet_dir, out)) == 130
    assert "interrupted" in capsys.readouterr().err
    assert not out.exists()


def test_the_config_a_card_records_passed_back_gives_the_same_result(tiny_resnet_dir, tmp_path, monkeypatch, capsys):
    import shutil

    from hfnet.jobs import make_parser

    monkeypatch.chdir(tmp_path)
    shutil.copytree(tiny_resnet_dir, tmp_path / "teacher")
    argv = [a if a != str(tiny_resnet_dir) else "teacher" for a in _common(tiny_resnet_dir, "first")]
    assert main(argv) == 0
    card = (tmp_path / "first" / "student" / "README.md").read_text()
    config = json.loads(card.split("Settings:\n\n```json\n", 1)[1].split("\n```", 1)[0])
    assert config["teacher"] == "teacher" and config["student"] == STUDENT and config["max_steps"] == 2
    (tmp_path / "run.json").write_text(json.dumps(config))
    again = ["--config", "run.json", "--output-dir", "second"]
    first_options = make_parser("distill").parse_args_into_dataclasses(argv[1:])
    second_options = make_parser("distill").parse_args_into_dataclasses(again)
    assert first_options[:-1] == second_options[:-1]  # all but the output folder
    assert main(["distill", *again]) == 0
    rows = [json.loads((tmp_path / n / "results.json").read_text())["rows"] for n in ("first", "second")]
    assert [(r["model"], r["parameters"], r["accuracy"]) for r in rows[0]] == [
        (r["model"], r["parameters"], r["accuracy"]) for r in rows[1]
    ]
    a, b = (load_classifier(tmp_path / n / "student") for n in ("first", "second"))
    for (name, p), q in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(p, q), name  # the same training, step for step
