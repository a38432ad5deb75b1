"""Wall time of the rank job split across processes (accelerate, CPU) against one process, and of a cached re-run.

    python benchmarks/ranking/sharded.py            # writes sharded.json here (run.py folds it into results.md)

Saves 8 candidates as Hub-format folders (EfficientNet-Lite0/1/2 ImageNet weights, a random Lite0, and tiny
transformers ResNets / ViTs), then times three runs of ``hfnet.ranking.rank_job`` on 200 Fashion-MNIST images with
every default score: 1 process with an empty feature cache; ``accelerate launch --multi_gpu --num_processes 2``
(CPU) with another empty cache; 1 process again on the first cache. Each time is the whole command's wall time
(interpreter start, imports, model loads), which is what a user waits for.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def worker(argv: list[str]) -> None:
    from transformers import HfArgumentParser

    from hfnet.data import load_image_dataset
    from hfnet.ranking.config import RankingConfig
    from hfnet.ranking.job import rank_job

    (config,) = HfArgumentParser(RankingConfig).parse_args_into_dataclasses(argv)
    data = load_image_dataset("fashion_mnist", samples_per_class=20, test_samples_per_class=1, seed=0)["train"]
    rank_job(config, data, dataset_name="fashion_mnist:train")


def build_zoo(folder: Path, effnet_size: int) -> list[str]:
    import timm
    import torch

    from hfnet.classifier import HubClassifier
    from hfnet.preprocessing import Preprocessing
    from hfnet.zoo import load_efficientnet_lite, tiny_resnet, tiny_vit

    names = [str(i) for i in range(10)]
    zoo = {f"effnet_lite{v}": load_efficientnet_lite(v, image_size=effnet_size) for v in (0, 1, 2)}
    torch.manual_seed(0)
    pre = Preprocessing(image_size=(effnet_size, effnet_size), mean=(0.5,) * 3, std=(0.5,) * 3)
    zoo["effnet_lite0_random"] = HubClassifier.from_model(
        timm.create_model("tf_efficientnet_lite0", pretrained=False), preprocessing=pre
    )
    for seed in (0, 1):
        zoo[f"resnet_{seed}"] = tiny_resnet(names, seed=seed)
        zoo[f"vit_{seed}"] = tiny_vit(names, seed=seed)
    paths = []
    for name, clf in zoo.items():
        paths.append(str(clf.save_pretrained(folder / name)))
    return paths


def timed(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-4000:])
    return time.perf_counter() - t0


def main() -> None:
    if "--worker" in sys.argv:
        worker([a for a in sys.argv[1:] if a != "--worker"])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--effnet-size", type=int, default=48)
    parser.add_argument("--output", default=str(HERE / "sharded.json"))
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        candidates = build_zoo(tmp / "zoo", args.effnet_size)
        me = [str(Path(__file__).resolve()), "--worker"]
        common = ["--candidates", *candidates, "--num_samples", "200", "--no_progress"]
        one = [sys.executable, *me, *common, "--cache_dir", str(tmp / "c1"), "--output", str(tmp / "one.json")]
        launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
        launch += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", *me, *common]
        launch += ["--cache_dir", str(tmp / "c2"), "--output", str(tmp / "two.json")]
        again = [sys.executable, *me, *common, "--cache_dir", str(tmp / "c1"), "--output", str(tmp / "again.json")]
        one_s = timed(one, env)
        two_s = timed(launch, env)
        again_s = timed(again, env)
        a, b, c = (json.loads((tmp / f"{n}.json").read_text()) for n in ("one", "two", "again"))
    result = {
        "command": "python benchmarks/ranking/sharded.py",
        "candidates": len(candidates),
        "images": 200,
        "num_processes": 2,
        "one_process_s": round(one_s, 1),
        "sharded_s": round(two_s, 1),
        "cached_s": round(again_s, 1),
        "cached_forwards": sum(r["forward_batches"] for r in c["table"]),
        "identical": a["table"] == b["table"] and a["recommended"] == b["recommended"],
        "processes_used": sorted({c["process"] for c in b["candidates"]}),
        "cached_identical": [
            {k: v for k, v in r.items() if k not in ("cached", "forward_batches")} for r in a["table"]
        ]
        == [{k: v for k, v in r.items() if k not in ("cached", "forward_batches")} for r in c["table"]],
        "note": f"{os.cpu_count()} CPU cores shared with other jobs, 1 thread per process; each time includes "
        "interpreter start, imports and model loads",
    }
    Path(args.output).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
