"""How fast the command line answers, and what the built-in dataset cache saves.

    python benchmarks/cli/run.py            # writes benchmarks/cli/results.md and results.json
    python benchmarks/cli/run.py --help-only  # re-measures part 1, keeps part 2 from results.json

1. ``hfnet --help``, ``hfnet --version``, every ``hfnet X --help`` (the training jobs list every
   ``TrainingArguments`` field) and every ``recipes/X.py --help`` against huggingface_hub's ``hf --help``:
   wall time of a fresh process, median of 5, all measured in one run, interleaved (the machine is shared, so
   compare the ratios, not the seconds).
2. ``load_image_dataset("fashion_mnist")``: the first build (PNG encoding of 70 000 images into an Arrow cache in a
   fresh ``HFNET_CACHE``) against a second, cached load, each in a fresh process.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
REPEATS = 5


def _time(cmd: list[str], env: dict | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    return time.perf_counter() - t0


def help_timings() -> list[dict]:
    hfnet = str(BIN / "hfnet")
    hf = shutil.which("hf", path=str(BIN)) or shutil.which("hf")
    commands = {
        "hf --help": [hf, "--help"],
        "hfnet --help": [hfnet, "--help"],
        "hfnet --version": [hfnet, "--version"],
    }
    for sub in ("rank", "prune", "merge", "filters", "distill", "evaluate", "push", "download", "demo"):
        commands[f"hfnet {sub} --help"] = [hfnet, sub, "--help"]
    for recipe in sorted((HERE.parents[1] / "recipes").glob("*.py")):
        commands[f"recipes/{recipe.name} --help"] = [sys.executable, str(recipe), "--help"]
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(REPEATS):  # interleaved: every command once per round
        for name, cmd in commands.items():
            times[name].append(_time(cmd))
    ref = statistics.median(times["hf --help"])
    return [
        {
            "command": name,
            "median_s": round(statistics.median(t), 3),
            "vs_hf_help": round(statistics.median(t) / ref, 2),
        }
        for name, t in times.items()
    ]


def dataset_cache_timings() -> dict:
    code = (
        "import time; from hfnet.data import load_image_dataset; t=time.perf_counter(); "
        "d=load_image_dataset('fashion_mnist'); print(len(d['train']), time.perf_counter()-t)"
    )
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "HFNET_CACHE": cache, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
        out = {}
        for label in ("first_build_s", "cached_load_s"):
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env)
            out[label] = round(time.perf_counter() - t0, 2)
            out[label.replace("_s", "_in_process_s")] = round(float(proc.stdout.split()[-1]), 2)
        out["load_speed-up"] = round(out["first_build_in_process_s"] / out["cached_load_in_process_s"], 1)
    return out


def main() -> None:
    sys.path.insert(0, str(HERE.parents[1]))
    from hfnet._table import format_table

    rows = help_timings()
    if "--help-only" in sys.argv[1:]:
        data = json.loads((HERE / "results.json").read_text())["fashion_mnist"]
    else:
        data = dataset_cache_timings()
    (HERE / "results.json").write_text(json.dumps({"help": rows, "fashion_mnist": data}, indent=2))
    md = [
        "# Command-line start-up and dataset cache",
        "",
        f"`python benchmarks/cli/run.py` (fresh process each, median of {REPEATS}, interleaved, one run):",
        "",
        "```",
        format_table(rows),
        "```",
        "",
        "`load_image_dataset('fashion_mnist')` in a fresh process: wall time including Python, torch and datasets "
        "imports, and the load itself (after the imports):",
        "",
        "```",
        format_table([data]),
        "```",
        "",
    ]
    (HERE / "results.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
