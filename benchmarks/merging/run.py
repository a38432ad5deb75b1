"""Peak memory of hfnet's streaming merge vs loading all N models, for N = 2, 4, 8 parents, with the parents saved as
one ``model.safetensors`` each and as sharded safetensors (5 shards + ``model.safetensors.index.json``, as large Hub
models ship).

Each measurement runs in a fresh subprocess that samples its own ``/proc/self/status`` every 5 ms:
``RssAnon`` (memory the process allocated: tensors) and ``RssFile`` (file pages mapped by safetensors' mmap, which
the kernel can drop at any time). Reported: the peak above the level right before the merge starts.

    python benchmarks/merging/run.py            # writes results.md, results.json, memory.png here
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, sys, threading, time
import torch
torch.set_num_threads(1)
from safetensors.torch import load_file, save_file
from hfnet._plots import pyplot
from hfnet.merging import merge_models
# import everything a merge touches before measuring, so the numbers are tensors, not modules
import transformers, timm, jinja2  # noqa
from transformers import AutoModelForImageClassification  # noqa
from huggingface_hub import ModelCard, ModelCardData  # noqa
from hfnet.merging.merge import _skeleton, resolve_source  # noqa
_skeleton(resolve_source(sys.argv[3]))

def status():
    out = {}
    for line in open("/proc/self/status"):
        if line.startswith(("RssAnon", "RssFile")):
            k, v = line.split(":")
            out[k] = int(v.split()[0]) / 1024
    return out

peak = {"RssAnon": 0.0, "RssFile": 0.0}
running = True
def sample():
    while running:
        s = status()
        for k in peak:
            peak[k] = max(peak[k], s[k])
        time.sleep(0.005)

mode, out, models = sys.argv[1], sys.argv[2], sys.argv[3:]
start = status()
t = threading.Thread(target=sample, daemon=True); t.start()
t0 = time.perf_counter()
if mode.startswith("streaming"):
    merge_models(models, out, method="average")
else:  # load every model fully, then average
    # load_file maps the files; clone = the tensors really in memory, as after loading N models
    states = [{k: v.clone() for k, v in load_file(f"{m}/model.safetensors").items()} for m in models]
    merged = {}
    for k in states[0]:
        if states[0][k].is_floating_point():
            merged[k] = sum(s[k] for s in states) / len(states)
        else:
            merged[k] = states[0][k]
    save_file(merged, f"{out}.safetensors")
seconds = time.perf_counter() - t0
running = False; t.join()
print(json.dumps({k: peak[k] - start[k] for k in peak} | {"seconds": seconds}))
"""


def main() -> None:
    import torch
    from safetensors.torch import load_file

    from hfnet.zoo import tiny_resnet

    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="hfnet-merge-bench-"))
    names = [str(i) for i in range(10)]
    parents, sharded = [], []
    for seed in range(8):
        clf = tiny_resnet(names, embedding_size=64, hidden_sizes=(128, 256, 512), depths=(2, 2, 2), seed=seed)
        parents.append(str(clf.save_pretrained(work / f"p{seed}")))
        folder = clf.save_pretrained(work / f"s{seed}")
        (folder / "model.safetensors").unlink()
        clf.model.save_pretrained(folder, max_shard_size="10MB")  # transformers' own sharded layout
        sharded.append(str(folder))
    model_mb = os.path.getsize(Path(parents[0]) / "model.safetensors") / 2**20
    num_params = sum(t.numel() for t in load_file(Path(parents[0]) / "model.safetensors").values())
    rows = []
    for n in (2, 4, 8):
        for mode in ("streaming", "streaming-sharded", "load-all"):
            models = sharded[:n] if mode == "streaming-sharded" else parents[:n]
            res = subprocess.run(
                [sys.executable, "-c", CHILD, mode, str(work / f"out_{mode}_{n}"), *models],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "HF_HUB_OFFLINE": "1"},
            )
            m = json.loads(res.stdout.strip().splitlines()[-1])
            rows.append(
                {
                    "parents": n,
                    "mode": mode,
                    "peak_anon_MB": round(m["RssAnon"], 1),
                    "peak_anon_in_models": round(m["RssAnon"] / model_mb, 2),
                    "peak_file_mapped_MB": round(m["RssFile"], 1),
                    "seconds": round(m["seconds"], 2),
                }
            )
            print(rows[-1], flush=True)
    result = {
        "model": "transformers ResNet (embedding 64, hidden 128/256/512, depths 2/2/2), float32",
        "model_MB": round(model_mb, 1),
        "num_parameters": num_params,
        "rows": rows,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    (HERE / "results.json").write_text(json.dumps(result, indent=2))
    from hfnet._table import format_table

    md = (
        f"# Streaming merge: peak memory\n\n{result['model']}: {num_params / 1e6:.1f} M parameters, "
        f"{model_mb:.1f} MB per checkpoint. Average of N parents; each run in a fresh process on the shared 2-core "
        f"CPU, peak above the level before merging. `peak_anon` = allocated memory (tensors); `peak_file_mapped` = "
        f"safetensors pages mapped from disk (reclaimable page cache). `streaming-sharded`: the same parents saved "
        f"by transformers with `max_shard_size='10MB'` (shards + index), read by hfnet's one checkpoint reader.\n\n"
        f"```\n{format_table(rows, '{:.2f}')}\n```\n\nCommand: `python benchmarks/merging/run.py`\n"
    )
    (HERE / "results.md").write_text(md)
    from hfnet._plots import pyplot

    plt = pyplot()

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for mode, style in (("streaming", "o-"), ("streaming-sharded", "^:"), ("load-all", "s--")):
        pts = [r for r in rows if r["mode"] == mode]
        ax.plot([r["parents"] for r in pts], [r["peak_anon_MB"] for r in pts], style, label=mode)
    ax.axhline(model_mb, color="gray", lw=0.8, ls=":", label="one model")
    ax.set_xlabel("number of parents")
    ax.set_ylabel("peak allocated memory above start (MB)")
    ax.set_title("average merge: streaming vs load-all")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(HERE / "memory.png", dpi=110)
    print(md)


if __name__ == "__main__":
    main()
