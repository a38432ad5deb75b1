"""The option vocabulary of every job: transformers/TRL names, every TrainingArguments field, ``--config`` files that
rebuild the same dataclasses, one help text for both doors, and every number checked at parse time."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
import typing
from pathlib import Path

import pytest
import yaml

from hfnet._trainer_fields import TRAINER_FIELDS
from hfnet.commands import main
from hfnet.jobs import JOBS, load_job, make_parser
from hfnet.options import _OPTION_PREFIX, _TRAINER_OWNED, _unwrap_optional, config_dict

ROOT = Path(__file__).resolve().parents[1]
RECIPES = {"prune": "prune_vit.py", "distill": "distill.py", "rank": "rank_models.py"}
TRAINING_JOBS = ("prune", "distill")


def _parsed(monkeypatch, argv, job=None, recipe=None):
    """The dataclasses `hfnet JOB argv` (or the recipe) would run with (run stubbed out)."""
    seen = []
    monkeypatch.setattr("hfnet.jobs.run_parsed", lambda module, options, command=None: seen.append(options) or 0)
    if recipe is None:
        assert main([job, *argv]) == 0
    else:
        spec = importlib.util.spec_from_file_location(f"recipe_{recipe}", ROOT / "recipes" / RECIPES[recipe])
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        monkeypatch.setattr(sys, "argv", [RECIPES[recipe], *argv])
        assert module.main() == 0
    return seen[0]


def test_trainer_field_table_matches_the_installed_transformers():
    from hfnet._trainer_fields import generate

    assert generate() == TRAINER_FIELDS  # regenerate with `python -m hfnet._trainer_fields` after an upgrade


@pytest.mark.parametrize("job", TRAINING_JOBS)
def test_every_trainer_field_is_an_option_under_its_own_name(job):
    options = set(make_parser(job)._option_string_actions)
    missing = [name for name, *_ in TRAINER_FIELDS if name not in _TRAINER_OWNED and f"--{name}" not in options]
    assert missing == []


TRL_PRUNE = (
    "--model_name_or_path M --dataset_name digits --per_device_train_batch_size 64 --num_train_epochs 3 "
    "--learning_rate 1e-4 --output_dir out --lr_scheduler_type cosine --dataloader_num_workers 2 --save_strategy no "
    "--max_grad_norm 0.5 --label_names labels"
)
HFNET_PRUNE = (
    "M --dataset digits --batch-size 64 --epochs 3 --learning-rate 1e-4 --output-dir out --lr_scheduler_type cosine "
    "--dataloader_num_workers 2 --save_strategy no --max_grad_norm 0.5 --label_names labels"
)
TRL_DISTILL = (
    "--teacher_model_name_or_path T --model_name_or_path S --dataset_name digits --output_dir out "
    "--per_device_train_batch_size 16 --num_train_epochs 2 --warmup_steps 0.1 --optim adamw_torch"
)
HFNET_DISTILL = "--teacher T --student S --dataset digits --output-dir out --batch-size 16 --epochs 2 "
HFNET_DISTILL += "--warmup_steps 0.1 --optim adamw_torch"


@pytest.mark.parametrize(
    ("job", "trl", "ours"), [("prune", TRL_PRUNE, HFNET_PRUNE), ("distill", TRL_DISTILL, HFNET_DISTILL)]
)
def test_recipes_accept_the_transformers_spellings(job, trl, ours, monkeypatch):
    from_recipe = _parsed(monkeypatch, trl.split(), recipe=job)
    from_command = _parsed(monkeypatch, ours.split(), job=job)
    assert from_recipe == from_command
    training = next(o for o in from_recipe if hasattr(o, "trainer_args"))
    if job == "prune":
        assert training.batch_size == 64 and training.epochs == 3.0
        assert training.trainer_args == {
            "lr_scheduler_type": "cosine",
            "dataloader_num_workers": 2,
            "save_strategy": "no",
            "max_grad_norm": 0.5,
            "label_names": ["labels"],
        }
        kwargs = training.training_arguments_kwargs("work")
        assert kwargs["per_device_train_batch_size"] == 64 and kwargs["lr_scheduler_type"] == "cosine"
    else:
        assert from_recipe[0].teacher == "T" and from_recipe[0].student == "S"


def test_a_positional_and_its_option_spelling_cannot_disagree(capsys):
    assert main(["prune", "A", "--model_name_or_path", "B", "--dataset", "digits", "--output-dir", "o"]) == 1
    assert "given twice" in capsys.readouterr().err
    assert main(["prune", "--dataset", "digits", "--output-dir", "o"]) == 1
    assert "missing MODEL" in capsys.readouterr().err


ROUND_TRIP = {
    "prune": "M --dataset digits --method snip --sparsity 0.5 --max-steps 7 --output-dir out --overwrite "
    "--lr_scheduler_type cosine --adam_beta2 0.99",
    "distill": "--teacher T --student zoo:tiny_vit --assistant A1 --hint none --hint a:b --dataset digits --merit 0.1 "
    "--output out --epochs 2 --optim sgd",
    "rank": "--dataset digits --candidates a b c --metrics logme leep --num-samples 40 --no-progress",
}


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
@pytest.mark.parametrize("job", sorted(ROUND_TRIP))
def test_config_recorded_passed_back_rebuilds_identical_dataclasses(job, suffix, tmp_path, monkeypatch):
    original = _parsed(monkeypatch, ROUND_TRIP[job].split(), job=job)
    config = config_dict(*original)
    path = tmp_path / f"config{suffix}"
    path.write_text(json.dumps(config) if suffix == ".json" else yaml.safe_dump(config))
    assert _parsed(monkeypatch, ["--config", str(path)], job=job) == original
    assert _parsed(monkeypatch, ["--config", str(path)], recipe=job) == original


def test_command_line_values_win_over_the_config_file(tmp_path, monkeypatch):
    path = tmp_path / "c.yaml"
    path.write_text(
        "model_name_or_path: M\ndataset_name: digits\noutput_dir: out\nsparsity: 0.7\nlearning_rate: 1e-2\n"
    )
    script, data, pruning, training, output = _parsed(
        monkeypatch, ["--config", str(path), "--sparsity", "0.3"], "prune"
    )
    assert (script.model, data.dataset, output.output_dir) == ("M", "digits", "out")
    assert pruning.sparsity == 0.3 and training.learning_rate == 0.01  # YAML's "1e-2" is text: parsed as a float


def test_a_bad_config_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "c.yaml"
    bad.write_text("sparsity_typo: 0.5\n")
    assert main(["prune", "--config", str(bad)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown option 'sparsity_typo'" in err[0]
    assert main(["prune", "--config", str(tmp_path / "none.json")]) == 1
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.parametrize("job", sorted(RECIPES))
def test_help_of_the_command_and_the_recipe_is_identical(job, capsys, monkeypatch):
    def help_of(call):
        with pytest.raises(SystemExit):
            call()
        return capsys.readouterr().out

    command = help_of(lambda: main([job, "--help"]))
    spec = importlib.util.spec_from_file_location(f"recipe_{job}", ROOT / "recipes" / RECIPES[job])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(sys, "argv", [RECIPES[job], "--help"])
    recipe = help_of(module.main)
    words = lambda text, prog: " ".join(text.replace(prog, "PROG", 1).split())  # noqa: E731 - wrapping follows prog
    assert words(command, f"hfnet {job}") == words(recipe, f"recipes/{RECIPES[job]}")
    title = _group_titles(load_job(job))[0]
    assert title in command  # titles are whole, colons included
    assert "--output-dir . --overwrite" in " ".join(command.split()) or job == "rank"


def _group_titles(job) -> list[str]:
    return [g.title for g in make_parser(job)._action_groups if ":" in (g.title or "")]


# ---------------------------------------------------------------------- numbers, generated from the declarations
def _numeric_fields():
    """(job, option, kind, min) for every int/float option of every job, Trainer fields included."""
    out = []
    for name in JOBS:
        job = load_job(name)
        for dtype in job.ARGUMENTS:
            hints = typing.get_type_hints(dtype)
            for f in dataclasses.fields(dtype):
                if not f.init or f.metadata.get("skip"):
                    continue
                tp, _ = _unwrap_optional(hints[f.name])
                kind = typing.get_args(tp)[0] if typing.get_origin(tp) in (list, tuple) else tp
                if kind in (int, float):
                    low = f.metadata.get("min", 0 if kind is int else None)
                    option = f.name if f.metadata.get("positional") else f"--{f.name.replace('_', '-')}"
                    out.append((name, option, kind, low))
        if name in TRAINING_JOBS:
            actions = make_parser(job)._option_string_actions
            for field_name, kind, default, _, _ in TRAINER_FIELDS:
                action = actions.get(f"--{field_name}")
                if kind not in ("int", "float") or action is None or not action.dest.startswith("trainer__"):
                    continue  # not a number, or declared by hfnet (covered above)
                low = -1 if isinstance(default, (int, float)) and default < 0 else 0
                out.append((name, f"--{field_name}", int if kind == "int" else float, low))
    return out


def _required_argv(job_name: str, out_dir: Path) -> list[str]:
    """The job's required options with placeholder values (numbers are refused before any is used)."""
    argv: list[str] = []
    for dtype in load_job(job_name).ARGUMENTS:
        for f in dataclasses.fields(dtype):
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            if not f.init or not required:
                continue
            value = str(out_dir) if f.name == "output_dir" else "digits" if f.name == "dataset" else "M"
            argv += [value] if f.metadata.get("positional") else [f"--{f.name.replace('_', '-')}", value]
    return argv


NUMERIC = _numeric_fields()


def test_every_job_with_numbers_is_covered():
    jobs = {job for job, *_ in NUMERIC}
    assert {"prune", "distill", "rank", "merge", "filters", "evaluate"} <= jobs
    assert len(NUMERIC) > 60


@pytest.mark.parametrize(("job", "option", "kind", "low"), NUMERIC, ids=[f"{j}{o}" for j, o, *_ in NUMERIC])
def test_bad_numbers_exit_1_with_one_line_and_no_folder(job, option, kind, low, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    bad = ["nan", "inf", "-inf"]
    if low is not None:
        bad.append(str(low - 1 if kind is int else low - 0.5))
    if kind is int:
        bad.append("1.5")
    for value in bad:
        argv = _required_argv(job, out)
        if option.startswith("--"):
            argv.append(f"{option}={value}")  # `--x -inf` reads -inf as an option, as argparse does
        else:  # a positional number list: none today, kept for completeness
            argv.insert(0, value)
        assert main([job, *argv]) == 1, (job, option, value)
        err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(err) == 1 and err[0].startswith("error: "), err
        assert option.lstrip("-").replace("-", "_") in err[0].replace("-", "_"), err
        assert "must be" in err[0] or "invalid" in err[0], err
        assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_parse_time_number_rules_name_the_rule(capsys):
    cases = {
        "--epochs -1": "--epochs must be >= 0, got -1.0",
        "--learning-rate 0": "--learning-rate must be > 0, got 0.0",
        "--warmup-ratio 1": "--warmup-ratio must be in [0, 1), got 1.0",
        "--batch-size 0": "--batch-size must be >= 1, got 0",
        "--max-steps -2": "--max-steps must be >= -1, got -2",
        "--dataloader_num_workers -1": "--dataloader_num_workers must be >= 0, got -1",
    }
    for extra, message in cases.items():
        assert main(["prune", "M", "--dataset", "digits", "--output-dir", "o", *extra.split()]) == 1
        assert capsys.readouterr().err.strip() == f"error: {message}"


def test_option_spelling_dest_is_not_a_dataclass_field():
    assert all(
        not f.name.startswith(_OPTION_PREFIX) for d in load_job("prune").ARGUMENTS for f in dataclasses.fields(d)
    )


def test_config_file_numbers_follow_the_same_rules(tmp_path, capsys):
    cases = {
        "batch_size: 1.5": "--batch-size must be an integer, got 1.5",
        "alpha: .nan": "--alpha must be a finite number, got nan",
        "temperature: 0": "--temperature must be > 0, got 0",
        "alpha: 2": "--alpha must be in [0, 1], got 2",
        "max_grad_norm: -1": "--max_grad_norm must be >= 0, got -1",
        "epochs: true": "--epochs must be a number, got True",
    }
    for i, (line, message) in enumerate(cases.items()):
        path = tmp_path / f"c{i}.yml"
        path.write_text(f"teacher: T\nstudent: S\ndataset: digits\noutput_dir: {tmp_path / 'out'}\n{line}\n")
        assert main(["distill", "--config", str(path)]) == 1
        assert capsys.readouterr().err.strip() == f"error: {message}", line
    assert not (tmp_path / "out").exists()
