"""The two doors of every job (``hfnet X`` and ``recipes/X.py``) are built from one declaration, and the command
line stays apart from the library and answers at once."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from hfnet.commands import main
from hfnet.jobs import JOBS, load_job, make_parser

ROOT = Path(__file__).resolve().parents[1]
RECIPES = {"prune": "prune_vit.py", "distill": "distill.py", "rank": "rank_models.py", "merge": "merge_models.py"}

# one realistic command line per job, with options of every kind (positional, list, bool, float, alias)
ARGV = {
    "prune": "M --dataset digits --method snip --sparsity 0.5 --scope layer --max-steps 7 --learning-rate 0.01 "
    "--output-dir out --overwrite --samples-per-class 3 --bf16 false",
    "distill": "--teacher T --student zoo:tiny_vit --assistant A1 --assistant A2 --hint none --hint a:b --dataset "
    "digits --merit 0.1 --temperature 2 --output out --epochs 2",
    "rank": "--dataset digits --candidates a b c --metrics logme leep --num-samples 40 --no-progress --json r.json",
    "merge": "A B C --method ties --base B0 --density 0.3 --weights 1 2 3 --output-dir m --push-to-hub "
    "--hub-model-id me/merged",
}


def _load_recipe(name: str):
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", ROOT / "recipes" / RECIPES[name])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("job", sorted(RECIPES))
def test_recipe_and_command_build_identical_options(job, monkeypatch):
    argv = ARGV[job].split()
    # the command: `hfnet JOB ...` through the real top-level entry point (run stubbed out)
    seen = []
    monkeypatch.setattr("hfnet.jobs.run_parsed", lambda module, options, command=None: seen.append(options) or 0)
    assert main([job, *argv]) == 0
    from_command = seen.pop()
    # the recipe: parse exactly as its main() does (run stubbed out), from its own file
    recipe = _load_recipe(job)
    monkeypatch.setattr(sys, "argv", [RECIPES[job], *argv])
    assert recipe.main() == 0
    assert seen[0] == from_command
    # and the values really came from the command line (not defaults)
    flat = {k: v for obj in from_command for k, v in vars(obj).items()}
    if job == "prune":
        assert flat["sparsity"] == 0.5 and flat["max_steps"] == 7 and flat["overwrite"] is True and not flat["bf16"]
    if job == "distill":
        assert flat["assistants"] == ["A1", "A2"] and flat["hint"] == ["none", "a:b"] and flat["merit_delta"] == 0.1
        assert flat["learning_rate"] == 2e-3  # the distill job's own default, declared once
    if job == "rank":
        assert flat["candidates"] == ["a", "b", "c"] and flat["progress"] is False
    if job == "merge":
        assert flat["models"] == ["A", "B", "C"] and flat["weights"] == [1.0, 2.0, 3.0] and flat["push_to_hub"]


def test_bad_option_value_is_one_line_before_anything_loads(capsys):

    assert main(["prune", "M", "--dataset", "digits", "--output-dir", "o", "--sparsity", "1.5"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: sparsity must be in [0, 1)")


def test_every_job_has_help_and_docstring():
    for name in JOBS:
        job = load_job(name)
        assert job.HELP == JOBS[name]
        text = make_parser(job).format_help()
        assert "usage:" in text and (job.__doc__ or "").strip()


def test_merge_help_names_exactly_the_registered_methods():
    from hfnet.merging.registry import BUILTIN_METHOD_MODULES, MERGE_METHODS, get_merge_method

    get_merge_method("average")
    help_text = [f for f in load_job("merge").ARGUMENTS[0].__dataclass_fields__.values() if f.name == "method"][0]
    for name in MERGE_METHODS:
        assert name in help_text.metadata["help"]
    assert sorted(MERGE_METHODS) == sorted(BUILTIN_METHOD_MODULES)


def test_pruning_methods_declared_once():
    from hfnet.pruning.config import METHODS
    from hfnet.pruning.scores import SCORE_FUNCTIONS

    assert set(SCORE_FUNCTIONS) == set(METHODS)


def _imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_library_and_recipes_never_import_the_command_line():
    offenders = []
    for path in [*(ROOT / "hfnet").rglob("*.py"), *(ROOT / "recipes").glob("*.py")]:
        if "commands" in path.relative_to(ROOT).parts:
            continue
        if any(m == "hfnet.commands" or m.startswith("hfnet.commands.") for m in _imports_of(path)):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_help_imports_neither_torch_nor_transformers():
    code = (
        "import sys\n"
        "from hfnet.commands import main\n"
        "for argv in ([], ['prune'], ['rank'], ['merge'], ['distill'], ['filters'], ['evaluate'], ['push'], ['demo']):\n"
        "    try:\n"
        "        main([*argv, '--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "import hfnet, hfnet.pruning, hfnet.ranking, hfnet.merging, hfnet.distillation, hfnet.analysis\n"
        "dir(hfnet.pruning)\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'timm', 'datasets') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stdout


def test_verbose_anywhere_and_version(capsys):

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.startswith("hfnet ")
    # -v after the subcommand's options is accepted (and still validates)
    assert main(["merge", "A", "--output-dir", "o", "-v", "--bn-samples", "0"]) == 1
    assert "bn-samples must be >= 1" in capsys.readouterr().err


def test_package_exports_are_listed():
    import hfnet
    import hfnet.pruning

    assert {"load_classifier", "HubClassifier", "evaluate_classifier"} <= set(dir(hfnet))
    assert {"snip_scores", "afr_scores", "make_masks"} <= set(dir(hfnet.pruning))
    for name in hfnet.pruning.__all__:
        assert getattr(hfnet.pruning, name) is not None


def test_importing_every_library_module_loads_neither_the_command_line_nor_the_jobs():
    modules = sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in (ROOT / "hfnet").rglob("*.py")
        if not {"commands", "jobs"} & set(p.relative_to(ROOT).parts) and p.name != "__main__.py"
    )
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print('FRONT', sorted(m for m in sys.modules if m.startswith(('hfnet.commands', 'hfnet.jobs'))))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "FRONT []" in proc.stdout
