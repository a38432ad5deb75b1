"""hfnet.options piece by piece: number rules and their messages, --config files, config defaults, shared options.

The end-to-end parse paths are in test_commands_options.py; these pin the rules each helper applies, so a wrong
bound, a lost message or a dropped field fails here by name.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import typing
from dataclasses import dataclass, field

import pytest

from hfnet.errors import HfnetError
from hfnet.options import (
    ArgumentParser,
    DatasetArguments,
    OutputArguments,
    TrainingOptions,
    _check_number,
    _fields,
    _parse_bool,
    _parse_json_or_text,
    _rule,
    check_numbers,
    check_trainer_numbers,
    config_dict,
    dataclasses_from_namespace,
    load_config,
    with_defaults,
)


@dataclass
class Knobs:
    """Knobs: a test declaration."""

    count: int = field(default=1, metadata={"help": "an int, default rule >= 0"})
    ratio: float = field(default=0.5, metadata={"help": "in (0, 1]", "min": 0, "min_open": True, "max": 1})
    top: float = field(default=0.1, metadata={"help": "< 1", "max": 1, "max_open": True})
    shift: float = field(default=0.0, metadata={"help": "any finite float"})
    weights: list[float] = field(default_factory=lambda: [1.0], metadata={"help": "each >= 0", "min": 0})
    sizes: tuple[int, ...] = field(default=(1,), metadata={"help": "each int >= 0"})
    _private: int = field(default=0, metadata={"help": "not an option"})
    hidden: int = field(default=0, metadata={"skip": True, "help": "not an option either"})


# ---------------------------------------------------------------------- declarations -> options
def test_fields_leave_out_private_skipped_and_non_init_fields():
    @dataclass
    class WithDerived(Knobs):
        derived: int = field(default=0, init=False)

    names = [f.name for f in _fields(WithDerived)]
    assert names == ["count", "ratio", "top", "shift", "weights", "sizes"]


def test_parse_bool_spellings():
    for text in ("1", "true", "True", "YES", "y", "on"):
        assert _parse_bool(text) is True
    for text in ("0", "false", "FALSE", "no", "n", "off"):
        assert _parse_bool(text) is False
    with pytest.raises(argparse.ArgumentTypeError, match="expected true or false, got 'maybe'"):
        _parse_bool("maybe")


def test_parse_json_or_text():
    assert _parse_json_or_text('{"a": 1}') == {"a": 1}
    assert _parse_json_or_text("[1, 2]") == [1, 2]
    assert _parse_json_or_text("plain words") == "plain words"


# ---------------------------------------------------------------------- number rules
def test_rule_defaults_integers_to_non_negative_floats_to_unbounded():
    assert _rule({}, True) == (0, None, False, False)
    assert _rule({}, False) == (None, None, False, False)
    assert _rule({"min": -1}, True) == (-1, None, False, False)
    assert _rule({"min": 0, "min_open": 1, "max": 1, "max_open": 0}, False) == (0, 1, True, False)


@pytest.mark.parametrize(
    ("value", "low", "high", "low_open", "high_open", "message"),
    [
        (0, 0, 1, True, False, "--x must be in (0, 1], got 0"),
        (1, 0, 1, False, True, "--x must be in [0, 1), got 1"),
        (2, 0, 1, False, False, "--x must be in [0, 1], got 2"),
        (-1, 0, 1, False, False, "--x must be in [0, 1], got -1"),
        (0, 0, None, True, False, "--x must be > 0, got 0"),
        (-2, -1, None, False, False, "--x must be >= -1, got -2"),
        (1, None, 1, False, True, "--x must be < 1, got 1"),
        (3, None, 2, False, False, "--x must be <= 2, got 3"),
    ],
)
def test_check_number_refuses_outside_the_rule_and_names_it(value, low, high, low_open, high_open, message):
    with pytest.raises(HfnetError) as e:
        _check_number("--x", value, False, low, high, low_open, high_open)
    assert str(e.value) == message


@pytest.mark.parametrize(
    ("value", "low", "high", "low_open", "high_open"),
    [(0, 0, 1, False, False), (1, 0, 1, False, False), (0.5, 0, 1, True, True), (5, None, None, False, False)],
)
def test_check_number_accepts_the_bounds_a_closed_rule_includes(value, low, high, low_open, high_open):
    _check_number("--x", value, False, low, high, low_open, high_open)


def test_check_number_kinds():
    with pytest.raises(HfnetError, match=r"^--x must be a number, got True$"):
        _check_number("--x", True, False, None, None, False, False)
    with pytest.raises(HfnetError, match=r"^--x must be a number, got '3'$"):
        _check_number("--x", "3", False, None, None, False, False)
    with pytest.raises(HfnetError, match=r"^--x must be a finite number, got nan$"):
        _check_number("--x", float("nan"), False, None, None, False, False)
    with pytest.raises(HfnetError, match=r"^--x must be an integer, got 2.5$"):
        _check_number("--x", 2.5, True, None, None, False, False)
    _check_number("--x", 2.0, True, 0, None, False, False)  # an integral float is an integer


def test_check_numbers_reads_each_fields_rule_and_every_list_item():
    ok = {f.name: f.default for f in _fields(Knobs) if f.default is not dataclasses.MISSING}
    ok |= {"weights": [0.0, 2.0], "sizes": (0, 3)}
    check_numbers(Knobs, ok)
    check_numbers(Knobs, {**ok, "shift": -5.0, "count": None})  # unbounded float; None is not checked
    bad = {
        "count": (-1, "--count must be >= 0, got -1"),
        "ratio": (0.0, "--ratio must be in (0, 1], got 0.0"),
        "top": (1.0, "--top must be < 1, got 1.0"),
        "shift": (float("inf"), "--shift must be a finite number, got inf"),
        "weights": ([1.0, -0.5], "--weights must be >= 0, got -0.5"),
        "sizes": ((1, -2), "--sizes must be >= 0, got -2"),
    }
    for name, (value, message) in bad.items():
        with pytest.raises(HfnetError) as e:
            check_numbers(Knobs, {**ok, name: value})
        assert str(e.value) == message, name


def test_check_trainer_numbers_lets_negative_defaults_stay_negative():
    check_trainer_numbers({"eval_steps": None, "save_total_limit": None, "max_grad_norm": 0.0})
    check_trainer_numbers({"max_steps": -1})  # its transformers default is -1
    with pytest.raises(HfnetError, match=r"^--max_grad_norm must be >= 0, got -1.0$"):
        check_trainer_numbers({"max_grad_norm": -1.0})
    with pytest.raises(HfnetError, match=r"^--max_steps must be >= -1, got -2$"):
        check_trainer_numbers({"max_steps": -2})
    with pytest.raises(HfnetError, match=r"^--dataloader_num_workers must be an integer, got 1.5$"):
        check_trainer_numbers({"dataloader_num_workers": 1.5})
    check_trainer_numbers({"lr_scheduler_type": "cosine"})  # not a number: not checked


# ---------------------------------------------------------------------- namespaces -> dataclasses
def test_dataclasses_from_namespace_checks_numbers_and_passes_trainer_fields():
    ns = argparse.Namespace(
        dataset="digits", image_column=None, label_column=None, samples_per_class=3, test_samples_per_class=None
    )
    ns2 = argparse.Namespace(
        **{f.name: f.default for f in _fields(TrainingOptions)}, trainer__lr_scheduler_type="cosine"
    )
    data, training = dataclasses_from_namespace(
        argparse.Namespace(**vars(ns), **vars(ns2)), [DatasetArguments, TrainingOptions]
    )
    assert data.samples_per_class == 3 and data.dataset == "digits"
    assert training.trainer_args == {"lr_scheduler_type": "cosine"}
    assert "trainer_args" not in vars(data)
    with pytest.raises(HfnetError, match="--samples-per-class must be >= 1, got 0"):
        dataclasses_from_namespace(argparse.Namespace(**{**vars(ns), "samples_per_class": 0}), [DatasetArguments])


# ---------------------------------------------------------------------- --config files
def test_load_config_json_yaml_and_empty(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"epochs": 2, "learning_rate": 0.01}))
    (tmp_path / "b.JSON").write_text('{"seed": 3}')
    (tmp_path / "c.yaml").write_text("epochs: 2\nlearning_rate: 1e-3\n")
    (tmp_path / "d.yml").write_text("")
    assert load_config(tmp_path / "a.json") == {"epochs": 2, "learning_rate": 0.01}
    assert load_config(tmp_path / "b.JSON") == {"seed": 3}  # the suffix in any case is JSON
    assert load_config(tmp_path / "c.yaml") == {"epochs": 2, "learning_rate": "1e-3"}  # YAML 1.1 reads 1e-3 as text
    assert load_config(tmp_path / "d.yml") == {}


def test_load_config_errors_name_the_file_and_the_fix(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(HfnetError) as e:
        load_config(missing)
    assert str(e.value) == f"--config {missing}: cannot read it (No such file or directory); name a YAML or JSON file"
    (tmp_path / "bad.json").write_text("{epochs: 2")
    with pytest.raises(HfnetError, match=r"^--config .*bad\.json: not valid JSON \(Expecting property name"):
        load_config(tmp_path / "bad.json")
    (tmp_path / "bad.yaml").write_text("epochs: [1, 2\nseed: 3\n")
    with pytest.raises(HfnetError) as e:
        load_config(tmp_path / "bad.yaml")
    assert str(e.value).startswith(f"--config {tmp_path / 'bad.yaml'}: not valid YAML (while parsing")
    assert "\n" not in str(e.value)
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(HfnetError) as e:
        load_config(tmp_path / "list.yaml")
    assert str(e.value) == f"--config {tmp_path / 'list.yaml'}: expected a mapping of option names to values, got list"


def _parser():
    return ArgumentParser([DatasetArguments, TrainingOptions, OutputArguments], prog="hfnet test")


def test_apply_config_sets_defaults_by_any_spelling_and_the_command_line_wins():
    parser = _parser()
    parser.apply_config(
        {"dataset_name": "digits", "num_train_epochs": 2, "per-device-train-batch-size": "8", "output": "out",
         "learning_rate": "1e-3", "lr_scheduler_type": "cosine"},
        source="cfg.yaml",
    )  # fmt: skip
    data, training, output = parser.parse_args_into_dataclasses(["--epochs", "3"])
    assert data.dataset == "digits" and output.output_dir == "out"
    assert training.epochs == 3.0 and training.batch_size == 8 and training.learning_rate == 1e-3
    assert isinstance(training.learning_rate, float) and isinstance(training.batch_size, int)
    assert training.trainer_args == {"lr_scheduler_type": "cosine"}


def test_apply_config_errors():
    with pytest.raises(HfnetError) as e:
        _parser().apply_config({"epoch": 2}, source="cfg.yaml")
    assert str(e.value) == "cfg.yaml: unknown option 'epoch'; use the option names `--help` lists"
    with pytest.raises(HfnetError) as e:
        _parser().apply_config({"batch_size": "eight"}, source="cfg.yaml")
    assert str(e.value) == "cfg.yaml: batch_size: invalid literal for int() with base 10: 'eight'"
    with pytest.raises(HfnetError) as e:
        _parser().apply_config({"bf16": "perhaps"}, source="cfg.yaml")
    assert "cfg.yaml: bf16:" in str(e.value)


def test_apply_config_lists_and_booleans(tmp_path):
    parser = ArgumentParser([TrainingOptions], prog="hfnet test")
    parser.apply_config({"bf16": "true", "use_cpu": True, "seed": 4})
    (training,) = parser.parse_args_into_dataclasses([])
    assert training.bf16 is True and training.use_cpu is True and training.seed == 4
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"seed": 9, "report_to": "tensorboard"}))
    (training,) = ArgumentParser([TrainingOptions], prog="t").parse_args_into_dataclasses(["--config", str(cfg)])
    assert training.seed == 9 and training.report_to == "tensorboard"


def test_config_dict_round_trip_rebuilds_the_options(tmp_path):
    parser = _parser()
    argv = ["--dataset", "digits", "--output-dir", "o", "--epochs", "2", "--lr_scheduler_type", "cosine"]
    options = parser.parse_args_into_dataclasses(argv)
    record = config_dict(*options)
    assert record["dataset"] == "digits" and record["lr_scheduler_type"] == "cosine" and "trainer_args" not in record
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(record))
    assert _parser().parse_args_into_dataclasses(["--config", str(cfg)]) == options


# ---------------------------------------------------------------------- shared declarations
def test_with_defaults_changes_only_the_named_defaults():
    Fast = with_defaults(TrainingOptions, "FastTraining", learning_rate=5e-4, epochs=3.0)
    assert Fast.__name__ == "FastTraining" and Fast.__doc__ == TrainingOptions.__doc__
    assert Fast.__module__ == TrainingOptions.__module__ and issubclass(Fast, TrainingOptions)
    fast = Fast()
    assert fast.learning_rate == 5e-4 and fast.epochs == 3.0 and fast.batch_size == 32
    by_name = {f.name: f for f in dataclasses.fields(Fast)}
    assert (
        by_name["learning_rate"].metadata
        == {f.name: f for f in dataclasses.fields(TrainingOptions)}["learning_rate"].metadata
    )
    assert with_defaults(TrainingOptions, seed=1).__name__ == "TrainingOptions"
    with pytest.raises(TypeError, match="TrainingOptions has no field 'lr'"):
        with_defaults(TrainingOptions, lr=1.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": -1.0}, "--epochs must be >= 0, got -1.0"),
        ({"batch_size": 0}, "--batch-size must be >= 1, got 0"),
        ({"gradient_accumulation_steps": 0}, "--gradient-accumulation-steps must be >= 1, got 0"),
        ({"learning_rate": 0.0}, "--learning-rate must be > 0, got 0.0"),
        ({"warmup_ratio": 1.0}, "--warmup-ratio must lie in [0, 1), got 1.0"),
        ({"warmup_ratio": -0.1}, "--warmup-ratio must lie in [0, 1), got -0.1"),
    ],
)
def test_training_options_refuse(kwargs, message):
    with pytest.raises(HfnetError) as e:
        TrainingOptions(**kwargs)
    assert str(e.value) == message


def test_training_options_accept_their_bounds():
    TrainingOptions(epochs=0.0, batch_size=1, gradient_accumulation_steps=1, learning_rate=1e-9, warmup_ratio=0.0)
    assert not TrainingOptions(epochs=0.0, max_steps=0).trains
    assert TrainingOptions(epochs=0.0, max_steps=1).trains and TrainingOptions(epochs=0.5).trains


def test_report_to_list():
    assert TrainingOptions(report_to="none").report_to_list == []
    assert TrainingOptions(report_to=" , ").report_to_list == []
    assert TrainingOptions(report_to="tensorboard, wandb").report_to_list == ["tensorboard", "wandb"]


def test_training_arguments_kwargs_map_every_option(monkeypatch, tmp_path):
    monkeypatch.setenv("TENSORBOARD_LOGGING_DIR", "x")  # recorded, so the value set below is undone after the test
    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR")
    opts = TrainingOptions(
        epochs=2.0, max_steps=7, batch_size=16, learning_rate=0.01, weight_decay=0.1, warmup_ratio=0.25,
        gradient_accumulation_steps=2, bf16=True, seed=5, logging_steps=3, use_cpu=True, report_to="none",
        trainer_args={"lr_scheduler_type": "cosine"},
    )  # fmt: skip
    kw = opts.training_arguments_kwargs("out")
    assert kw == {
        "output_dir": "out", "num_train_epochs": 2.0, "max_steps": 7, "per_device_train_batch_size": 16,
        "per_device_eval_batch_size": 64, "learning_rate": 0.01, "weight_decay": 0.1, "warmup_steps": 0.25,
        "gradient_accumulation_steps": 2, "bf16": True, "seed": 5, "data_seed": 5, "logging_steps": 3,
        "report_to": [], "use_cpu": True, "lr_scheduler_type": "cosine",
    }  # fmt: skip
    assert TrainingOptions(batch_size=128).training_arguments_kwargs("o")["per_device_eval_batch_size"] == 128
    assert "TENSORBOARD_LOGGING_DIR" not in os.environ
    TrainingOptions(report_to="tensorboard", logging_dir=str(tmp_path / "tb")).training_arguments_kwargs("o")
    assert os.environ["TENSORBOARD_LOGGING_DIR"].startswith(str(tmp_path / "tb") + os.sep)


def test_to_training_arguments_builds_the_trainers_arguments(tmp_path):
    opts = TrainingOptions(epochs=2.0, max_steps=5, batch_size=4, learning_rate=0.02, seed=3, use_cpu=True,
                           trainer_args={"lr_scheduler_type": "cosine"})  # fmt: skip
    args = opts.to_training_arguments(str(tmp_path / "run"), logging_steps=2)
    assert args.output_dir == str(tmp_path / "run")
    assert (args.num_train_epochs, args.max_steps, args.per_device_train_batch_size) == (2.0, 5, 4)
    assert (args.learning_rate, args.seed, args.data_seed, args.logging_steps) == (0.02, 3, 3, 2)
    assert getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type) == "cosine" and args.use_cpu


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"output_dir": "  "}, "--output-dir is empty: name a folder for the result"),
        ({"output_dir": "o", "push_to_hub": True}, "--push-to-hub needs --hub-model-id OWNER/NAME"),
        ({"output_dir": "o", "hub_model_id": "no-owner"}, "--hub-model-id must look like OWNER/NAME, got 'no-owner'"),
        ({"output_dir": "o", "hub_model_id": "a/b/c"}, "--hub-model-id must look like OWNER/NAME, got 'a/b/c'"),
    ],
)
def test_output_arguments_refuse(kwargs, message):
    with pytest.raises(HfnetError) as e:
        OutputArguments(**kwargs)
    assert str(e.value) == message


def test_output_arguments_save_kwargs():
    out = OutputArguments("o", overwrite=True, push_to_hub=True, hub_model_id="me/model.v1", private=True)
    assert out.save_kwargs() == {
        "overwrite": True,
        "push_to_hub": True,
        "hub_model_id": "me/model.v1",
        "private": True,
    }
    assert OutputArguments("o").save_kwargs() == {
        "overwrite": False, "push_to_hub": False, "hub_model_id": None, "private": False
    }  # fmt: skip


@pytest.mark.parametrize("name", ["samples_per_class", "test_samples_per_class"])
def test_dataset_arguments_refuse_fewer_than_one_image(name):
    with pytest.raises(HfnetError) as e:
        DatasetArguments("digits", **{name: 0})
    assert str(e.value) == f"--{name.replace('_', '-')} must be >= 1, got 0"
    assert getattr(DatasetArguments("digits", **{name: 1}), name) == 1


def test_dataset_arguments_load_passes_every_option(monkeypatch):
    import hfnet.data

    seen = {}
    monkeypatch.setattr(hfnet.data, "load_image_dataset", lambda name, **kw: seen.update(name=name, **kw) or "dd")
    args = DatasetArguments("d", image_column="img", label_column="lab", samples_per_class=2, test_samples_per_class=3)
    assert args.load(seed=4) == "dd"
    assert seen == {"name": "d", "image_column": "img", "label_column": "lab", "samples_per_class": 2,
                    "test_samples_per_class": 3, "seed": 4}  # fmt: skip


# ---------------------------------------------------------------------- declarations -> argparse options
@dataclass
class Declared:
    """Declared: every kind of field the jobs use."""

    model: str = field(metadata={"help": "the model", "positional": True, "option": "--model_name_or_path"})
    mode: typing.Literal["fast", "slow"] = field(default="fast", metadata={"help": "a Literal"})
    color: str = field(default="red", metadata={"help": "listed choices", "choices": ("red", "blue"), "metavar": "C"})
    hints: list[str] = field(default_factory=list, metadata={"help": "repeatable"})
    sizes: list[int] = field(default_factory=lambda: [1, 2], metadata={"help": "ints"})
    flag: bool = field(default=False, metadata={"help": "a flag"})
    keep: bool = field(default=True, metadata={"help": "on by default"})
    rate: float = field(default=0.5, metadata={"help": "a 50% rate"})
    steps: int | None = field(default=None, metadata={"help": "optional int", "aliases": ("--n-steps",)})
    name: str = field(default="x", metadata={"help": "plain"})


def _declared(argv):
    parser = ArgumentParser([Declared], prog="t")
    return parser, parser.parse_args_into_dataclasses(argv)[0]


def test_declared_defaults_and_types():
    _, d = _declared(["m"])
    assert d == Declared(model="m")
    _, d = _declared(["--model_name_or_path", "m", "--mode", "slow", "--color", "blue", "--sizes", "3", "4",
                      "--rate", "0.25", "--n-steps", "7", "--flag", "--no-keep", "--name", "y"])  # fmt: skip
    assert (d.model, d.mode, d.color, d.sizes, d.rate, d.steps, d.flag, d.keep, d.name) == (
        "m", "slow", "blue", [3, 4], 0.25, 7, True, False, "y"
    )  # fmt: skip
    assert isinstance(d.sizes[0], int) and isinstance(d.rate, float) and isinstance(d.steps, int)
    _, d = _declared(["m", "--flag", "false", "--keep", "true", "--steps", "3"])
    assert d.flag is False and d.keep is True and d.steps == 3


def test_declared_lists_extend_and_choices_refuse():
    _, d = _declared(["m", "--hints", "a", "--hints", "b", "c"])
    assert d.hints == ["a", "b", "c"]
    _, d = _declared(["m", "--sizes"])
    assert d.sizes == []  # a list with a default takes zero or more
    for argv, text in ((["m", "--mode", "medium"], "invalid choice: 'medium'"),
                       (["m", "--color", "green"], "invalid choice: 'green'"),
                       (["m", "--rate", "half"], "invalid float value: 'half'"),
                       (["m", "--flag", "maybe"], "expected true or false")):  # fmt: skip
        with pytest.raises(HfnetError, match=text):
            _declared(argv)
    with pytest.raises(HfnetError, match="missing MODEL: pass it first or as --model_name_or_path"):
        _declared([])
    with pytest.raises(HfnetError, match="model given twice"):
        _declared(["a", "--model_name_or_path", "b"])


def test_declared_help_shows_choices_metavars_defaults_and_both_spellings():
    parser, _ = _declared(["m"])
    text = parser.format_help()
    assert "{fast,slow}" in text and "--color C" in text and "listed choices (default: red)" in text
    assert "a 50% rate (default: 0.5)" in text and "ints (default: [1, 2])" in text
    assert "--flag [{true,false}]" in text and "--n-steps" in text and "--steps" in text
    assert "repeatable (default" not in text and "optional int (default" not in text  # empty / None: not shown
    assert "the model (or --model_name_or_path)" in text
    assert "--no-keep" not in text  # the negative spelling is accepted but not listed
    actions = {a.dest: a for a in parser._actions}
    assert actions["mode"].choices == ["fast", "slow"] and actions["color"].choices == ["red", "blue"]
    assert actions["hints"].nargs == "*" and actions["sizes"].type is int and actions["rate"].type is float
    assert actions["flag"].const is True and actions["flag"].nargs == "?"
    assert "--name" in actions["name"].option_strings and "--no_keep" in parser._option_string_actions


def test_unsupported_field_type_is_a_declaration_error():
    @dataclass
    class Bad:
        """Bad."""

        table: dict[str, int] = field(default_factory=dict, metadata={"help": "no CLI form"})

    with pytest.raises(TypeError, match=r"Bad\.table: unsupported option type"):
        ArgumentParser([Bad], prog="t")


def test_a_config_list_is_replaced_by_the_command_line_not_extended(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: m\nhints: [a, b]\n")
    parser = ArgumentParser([Declared], prog="t")
    assert parser.parse_args_into_dataclasses(["--config", str(cfg)])[0].hints == ["a", "b"]
    parser = ArgumentParser([Declared], prog="t")
    assert parser.parse_args_into_dataclasses(["--config", str(cfg), "--hints", "c", "--hints", "d"])[0].hints == [
        "c",
        "d",
    ]
