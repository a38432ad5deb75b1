"""ViT-B/16 at 224 px on one GPU (random weights): AFR scoring, bf16 fine-tuning steps and inference, dense against
50 % compressed, each as a ratio measured in one run. Meant to finish in under 8 minutes on one GPU.

    python benchmarks/gpu/run.py                    # on a GPU machine; writes results.md / results.json here
    python benchmarks/gpu/run.py --small --out DIR  # the same code on a tiny ViT, on the CPU (a check of the script)

Measured (medians of interleaved repeats, the device synchronised around every timed call):

1. AFR scoring time (``hfnet.pruning.scores.compute_scores("afr", ...)`` on 256 images in batches of 32) against
   one plain forward + backward pass over the same batches;
2. a bf16 (autocast) AdamW fine-tuning step at batch 64, dense against the 50 %-compressed model (6 of 12 heads and
   half the MLP neurons removed, as ``hfnet compress --sparsity 0.5`` with an equal head / neuron split);
3. inference latency at batch 1 and 64 (bf16 autocast on a GPU, fp32 on the CPU), dense against compressed;
4. peak GPU memory of the training step (``torch.cuda.max_memory_allocated``), dense against compressed.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from contextlib import nullcontext
from pathlib import Path

import torch

from hfnet.classifier import HubClassifier
from hfnet.pruning.scores import compute_scores, random_scores
from hfnet.pruning.structured import build_pruned_model, count_parameters, structured_masks, unit_layout, unit_scores

HERE = Path(__file__).resolve().parent


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device, repeats: int) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def models(small: bool, device: torch.device) -> tuple[HubClassifier, HubClassifier]:
    """The dense ViT and its 50 % structured export (random unit scores: only the shape matters here)."""
    from transformers import ViTConfig, ViTForImageClassification

    torch.manual_seed(0)
    config = ViTConfig(num_labels=10)
    if small:
        config = ViTConfig(image_size=32, patch_size=8, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                           intermediate_size=128, num_labels=10)  # fmt: skip
    dense = HubClassifier.from_model(ViTForImageClassification(config))
    layout = unit_layout(dense)
    keep = structured_masks(unit_scores(random_scores(dense, seed=0), layout), layout, 0.5, 0.5)
    small_model = HubClassifier.from_model(build_pruned_model(dense, keep, layout), class_names=dense.class_names)
    return dense.to(device), small_model.to(device)


def batches(size: int, n: int, batch: int, device) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [
        {"pixel_values": torch.randn(batch, 3, size, size, generator=g).to(device),
         "labels": torch.randint(0, 10, (batch,), generator=g).to(device)}
        for _ in range(n // batch)
    ]  # fmt: skip


def scoring(dense: HubClassifier, data, device, repeats: int) -> dict[str, float]:
    def forward_backward():
        for b in data:
            dense.zero_grad(set_to_none=True)
            dense(**b)["loss"].backward()

    t_fb = timed(forward_backward, device, repeats)
    t_afr = timed(lambda: compute_scores("afr", dense, data), device, repeats)
    dense.zero_grad(set_to_none=True)
    return {"afr_seconds": t_afr, "forward_backward_seconds": t_fb, "afr_over_forward_backward": t_afr / t_fb}


def train_step_cost(clf: HubClassifier, batch, device, repeats: int) -> tuple[float, float]:
    """Median seconds of one bf16-autocast AdamW step, and its peak GPU memory in bytes (0 on the CPU)."""
    clf.train()
    opt = torch.optim.AdamW(clf.parameters(), lr=1e-4)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16)

    def step():
        with autocast:
            loss = clf(**batch)["loss"]
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    seconds = timed(step, device, repeats)
    peak = torch.cuda.max_memory_allocated() if device.type == "cuda" else 0
    clf.eval()
    return seconds, peak


@torch.no_grad()
def inference(dense, small, size: int, device, repeats: int) -> dict[str, float]:
    out = {}
    ctx = torch.autocast(device.type, dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()
    for batch in (1, 64):
        x = torch.randn(batch, 3, size, size, device=device)
        with ctx:
            times = {name: timed(lambda m=m, x=x: m(pixel_values=x), device, repeats) for name, m in (("dense", dense),
                     ("compressed", small))}  # fmt: skip
        out[f"latency_ms_dense_b{batch}"] = 1e3 * times["dense"]
        out[f"latency_ms_compressed_b{batch}"] = 1e3 * times["compressed"]
        out[f"latency_ratio_b{batch}"] = times["compressed"] / times["dense"]
    return out


def run(small: bool) -> dict:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    t0 = time.perf_counter()
    dense, compressed = models(small, device)
    size = dense.model.config.image_size
    repeats = 3 if small else 10
    result = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else f"{platform.machine()} CPU",
        "torch": torch.__version__,
        "model": "tiny ViT (--small)" if small else "ViT-B/16 224 px, random weights",
        "params_dense": count_parameters(dense.model),
        "params_compressed": count_parameters(compressed.model),
    }
    result.update(scoring(dense, batches(size, 64 if small else 256, 32, device), device, repeats))
    (train_batch,) = batches(size, 64, 64, device)
    dense_s, dense_mem = train_step_cost(dense, train_batch, device, repeats)
    small_s, small_mem = train_step_cost(compressed, train_batch, device, repeats)
    result.update(train_step_ms_dense=1e3 * dense_s, train_step_ms_compressed=1e3 * small_s,
                  train_step_ratio=small_s / dense_s, peak_memory_mb_dense=dense_mem / 2**20,
                  peak_memory_mb_compressed=small_mem / 2**20,
                  peak_memory_ratio=small_mem / dense_mem if dense_mem else None)  # fmt: skip
    result.update(inference(dense, compressed, size, device, repeats))
    result["seconds"] = time.perf_counter() - t0
    return result


def write(result: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result, indent=1))
    lines = [f"# {result['model']} on {result['device']} (torch {result['torch']}, {result['seconds']:.0f} s)", "",
             "| measure | value |", "|---|---|"]  # fmt: skip
    for k, v in result.items():
        if k not in ("model", "device", "torch"):
            lines.append(f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |")
    (out / "results.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a tiny ViT (checks the script on a CPU)")
    parser.add_argument("--out", default=None, help="where results.md / results.json go (default: next to it)")
    args = parser.parse_args()
    result = run(args.small)
    print(json.dumps(result, indent=1))
    write(result, Path(args.out) if args.out else HERE)


if __name__ == "__main__":
    main()
