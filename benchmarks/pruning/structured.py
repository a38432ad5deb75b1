"""Structured pruning (whole heads and MLP neurons removed) against unstructured AFR at the same parameter count.

    python benchmarks/pruning/structured.py            # full run (~20 min on 2 shared CPU cores), writes structured.*
    python benchmarks/pruning/structured.py --quick    # smoke test (1 seed, 1 sparsity, a few steps; writes nothing)

Protocol (the setup of ``benchmarks/pruning/run.py``): a transformers ViT (28 px, patch 7, hidden 96, 4 blocks,
4 heads, 192 MLP neurons) is trained from scratch on 6000 Fashion-MNIST images; then for every seed (0, 1, 2),
fraction of the prunable block weights removed (25/50/75 %) and method it gets a new 10-digit head, is scored on
256 MNIST training images, pruned and fine-tuned for the same budget (100 AdamW steps of 64, lr 2e-3) and evaluated
on 1000 MNIST test images:

- structured random / magnitude / SNIP / ReFer / AFR: per-weight scores summed per head and per MLP neuron, the
  same number removed in every block, split between heads and neurons by the scores, then the weights are removed
  and the smaller dense model is fine-tuned;
- unstructured AFR with exactly as many weights zeroed as the structured AFR model has fewer parameters (one
  global threshold, mask kept fixed while fine-tuning).

Sizes: parameters and ``model.safetensors`` bytes as written by hfnet. Latency: CPU, 1 thread, forward pass at
batch 1 and 32, median of repeats, dense and pruned models interleaved in the same process, reported as ratio to
dense; for the benchmark ViT and for ViT-B/16 at 224 px with random weights (transformers ``ViTConfig()``: heads
and neurons removed in equal fractions; timm ``vit_base_patch16_224``: neurons only, as timm cannot express fewer
heads of the same width).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from hfnet._plots import pyplot, save_figure
from hfnet.classifier import HubClassifier, load_classifier
from hfnet.data import load_image_dataset
from hfnet.pruning import prunable_parameters, random_scores
from hfnet.pruning.config import PruningConfig
from hfnet.pruning.pipeline import run_pruning
from hfnet.pruning.structured import (
    build_pruned_model,
    measure_latency,
    structured_masks,
    unit_layout,
    unit_scores,
)
from hfnet.training import default_training_arguments

HERE = Path(__file__).resolve().parent
METHODS = ("random", "magnitude", "snip", "refer", "afr")
SPARSITIES = (0.25, 0.5, 0.75)
SEEDS = (0, 1, 2)


def _args(work: Path, seed: int, steps: int):
    return default_training_arguments(
        str(work / "ft"),
        max_steps=steps,
        batch_size=64,
        learning_rate=2e-3,
        seed=seed,
        disable_tqdm=True,
        logging_steps=10_000,
    )


def _size(folder: Path) -> int:
    return (Path(folder) / "model.safetensors").stat().st_size


def prune_run(model_dir: Path, data, work: Path, config: PruningConfig, seed: int, steps: int, tag: str):
    clf = load_classifier(model_dir)
    t0 = time.perf_counter()
    out = work / "saved" / tag
    summary = run_pruning(
        clf, data, config, _args(work, seed, steps), save_dir=out, dataset_name="mnist", progress=False
    )
    params = sum(p.numel() for p in clf.model.parameters())
    nonzero = sum(int(torch.count_nonzero(p)) for p in clf.model.parameters())
    row = {
        "method": config.method,
        "structured": config.structured,
        "sparsity": config.sparsity,
        "seed": seed,
        "accuracy": summary["accuracy"],
        "params": params,
        "nonzero_params": nonzero,
        "safetensors_bytes": _size(out),
        "seconds": time.perf_counter() - t0,
    }
    if config.structured:
        row.update(
            heads_per_block=summary["heads_per_block_after"],
            neurons_per_block=summary["neurons_per_block_after"],
            removed_fraction=summary["sparsity_prunable"],
            params_before=summary["params_before"],
        )
    return row, clf


def dense_run(model_dir: Path, data, work: Path, seed: int, steps: int):
    from hfnet.data import class_names
    from hfnet.evaluation import evaluate_classifier
    from hfnet.pruning.pipeline import fit_head
    from hfnet.training import train_classifier

    clf = load_classifier(model_dir)
    torch.manual_seed(seed)
    fit_head(clf, class_names(data))
    args = _args(work, seed, steps)
    train_classifier(clf, data["train"], output_dir=args.output_dir, args=args)
    out = clf.save_pretrained(work / "saved" / f"dense-{seed}")
    row = {
        "method": "dense",
        "structured": False,
        "sparsity": 0.0,
        "seed": seed,
        **evaluate_classifier(clf, data["test"], progress=False),
        "params": sum(p.numel() for p in clf.model.parameters()),
        "safetensors_bytes": _size(out),
    }
    return row, clf


def latency_ratios(dense, others: dict, image_size: int, repeats: dict[int, int]) -> dict:
    """Median latency of every model at batch 1 and 32 (interleaved with the dense one) and the ratios to dense."""
    out = {}
    for batch, n in repeats.items():
        x = torch.randn(batch, 3, image_size, image_size)
        models = {"dense": dense, **others}
        # batch 1 runs first and warms every model up; a big model at batch 32 needs no second warm-up
        t = measure_latency(models, x, repeats=n, warmup=1 if batch == 1 else 0)
        out[f"b{batch}"] = {
            "dense_ms": 1e3 * t["dense"],
            **{f"{k}_ms": 1e3 * v for k, v in t.items() if k != "dense"},
            **{f"{k}_ratio": v / t["dense"] for k, v in t.items() if k != "dense"},
        }
    return out


def _model(clf: HubClassifier):
    return clf.model


def vit_b16(sparsities, work: Path, repeats: dict[int, int]) -> dict:
    """ViT-B/16, 224 px, random weights: latency and file-size ratios of the structured exports."""
    import timm
    from transformers import ViTConfig, ViTForImageClassification

    result = {}
    for library in ("transformers", "timm"):
        torch.manual_seed(0)
        if library == "transformers":
            model = ViTForImageClassification(ViTConfig(num_labels=10))
        else:
            model = timm.create_model("vit_base_patch16_224", pretrained=False, num_classes=10)
        clf = HubClassifier.from_model(model)
        layout = unit_layout(clf)
        scores = unit_scores(random_scores(clf, seed=0), layout)
        dense_dir = clf.save_pretrained(work / f"vitb-{library}-dense")
        pruned, info = {}, {}
        for s in sparsities:
            try:
                keep = structured_masks(scores, layout, s, s if layout.heads_removable else None)
            except Exception as e:  # noqa: BLE001 - e.g. timm at 75 %: no split keeps a neuron per block
                info[f"{s:g}"] = {"error": str(e).split(";")[0]}
                continue
            new = build_pruned_model(clf, keep, layout)
            tmp = HubClassifier.from_model(new, preprocessing=clf.preprocessing)
            folder = tmp.save_pretrained(work / f"vitb-{library}-{s:g}")
            pruned[f"{s:g}"] = new
            info[f"{s:g}"] = {
                "heads_per_block": int(keep["heads"].sum(1)[0]),
                "neurons_per_block": int(keep["neurons"].sum(1)[0]),
                "params_ratio": sum(p.numel() for p in new.parameters()) / sum(p.numel() for p in model.parameters()),
                "size_ratio": _size(folder) / _size(dense_dir),
            }
            print(f"ViT-B/16 {library} {s:.0%}: {info[f'{s:g}']}", flush=True)
        lat = latency_ratios(model, pruned, 224, repeats)
        for key, d in info.items():
            for b in lat:
                if f"{key}_ratio" in lat[b]:
                    d[f"latency_ratio_{b}"] = lat[b][f"{key}_ratio"]
        result[library] = {"per_sparsity": info, "latency": lat, "heads_note": layout.heads_note}
        print(f"ViT-B/16 {library} latency: {lat}", flush=True)
        del model, pruned, clf
    return result


def summarise(rows: list[dict]) -> dict:
    table: dict = {}
    for r in rows:
        key = r["method"] if r["method"] == "dense" else ("s-" if r["structured"] else "u-") + r["method"]
        table.setdefault(key, {}).setdefault(f"{r['sparsity']:g}", []).append(r)
    out: dict = {}
    for key, by_s in table.items():
        for s, rs in by_s.items():
            accs = [r["accuracy"] for r in rs]
            out.setdefault(key, {})[s] = {
                "mean": statistics.mean(accs),
                "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                "params": statistics.mean(r["params"] for r in rs),
                "nonzero_params": statistics.mean(r.get("nonzero_params", r["params"]) for r in rs),
                "safetensors_bytes": statistics.mean(r["safetensors_bytes"] for r in rs),
                "splits": sorted(
                    {(r.get("heads_per_block"), r.get("neurons_per_block")) for r in rs} - {(None, None)}
                ),
            }
    return out


def write_results(result: dict) -> None:
    t, sp = result["table"], result["sparsities"]
    dense = t["dense"]["0"]
    small = result["latency_small"]
    lines = [
        "# Structured pruning: heads and MLP neurons removed (Fashion-MNIST ViT pruned for MNIST, CPU)",
        "",
        f"Command: `{result['command']}` ({result['total_seconds'] / 60:.1f} min on {result['machine']}).",
        "",
        f"Model: transformers ViT, 28 px, patch 7, hidden 96, 4 blocks of 4 heads (head_dim 24) and 192 MLP neurons, "
        f"{result['prunable_weights']} prunable block weights of {result['all_weights']} parameters; pretrained from "
        f"scratch on 6000 Fashion-MNIST images ({result['pretrain']['accuracy']:.3f} test accuracy). Downstream: MNIST "
        f"(2000 training images, 1000 test images), 256 calibration images, {result['finetune_steps']} AdamW steps of "
        f"64 (lr 2e-3) for every model, seeds {list(SEEDS)}. `s-` = structured (units removed, dense smaller model), "
        "`u-afr` = unstructured AFR with as many weights zeroed as the structured AFR model has fewer parameters.",
        "",
        "## MNIST test accuracy (mean +/- std over 3 seeds)",
        "",
        "| method | " + " | ".join(f"{s:.0%} removed" for s in sp) + " |",
        "|---|" + "---|" * len(sp),
        f"| dense | {dense['mean']:.4f} +/- {dense['std']:.4f} |" + " |" * (len(sp) - 1),
    ]
    for key in [f"s-{m}" for m in METHODS] + ["u-afr"]:
        cells = []
        for s in sp:
            c = t[key][f"{s:g}"]
            split = ""
            if c["splits"]:
                split = " (" + ", ".join(f"{h}h/{n}n" for h, n in c["splits"]) + ")"
            cells.append(f"{c['mean']:.4f} +/- {c['std']:.4f}{split}")
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "`Xh/Yn`: heads / MLP neurons kept per block (of 4 / 192), as chosen by the scores (one entry per distinct "
        "choice over the seeds).",
        "",
        "## Size and CPU latency as a ratio to dense (benchmark ViT, structured AFR seed 0; unstructured AFR seed 0)",
        "",
        "| removed | params s-afr | nonzero u-afr | safetensors s-afr | safetensors u-afr | latency b1 s-afr | "
        "latency b32 s-afr | latency b1 u-afr | latency b32 u-afr |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in sp:
        k = f"{s:g}"
        sa, ua = t["s-afr"][k], t["u-afr"][k]
        lat = small[k]
        lines.append(
            f"| {s:.0%} | {sa['params'] / dense['params']:.3f} | {ua['nonzero_params'] / dense['params']:.3f} | "
            f"{sa['safetensors_bytes'] / dense['safetensors_bytes']:.3f} | "
            f"{ua['safetensors_bytes'] / dense['safetensors_bytes']:.3f} | "
            f"{lat['b1']['structured_ratio']:.3f} | {lat['b32']['structured_ratio']:.3f} | "
            f"{lat['b1']['unstructured_ratio']:.3f} | {lat['b32']['unstructured_ratio']:.3f} |"
        )
    lines += [
        "",
        f"Dense latency: {small[f'{sp[0]:g}']['b1']['dense_ms']:.2f} ms at batch 1, "
        f"{small[f'{sp[0]:g}']['b32']['dense_ms']:.2f} ms at batch 32 (1 thread).",
        "",
    ]
    vb = result.get("vit_b16")
    if vb:
        lines += [
            "## ViT-B/16, 224 px, random weights (CPU, 1 thread, ratio to dense in the same run)",
            "",
            "| library | removed | heads / neurons kept per block | params | model.safetensors | latency b1 | "
            "latency b32 |",
            "|---|---|---|---|---|---|---|",
        ]
        for lib, d in vb.items():
            for s in sp:
                x = d["per_sparsity"].get(f"{s:g}", {})
                if "error" in x:
                    lines.append(f"| {lib} | {s:.0%} | not expressible: {x['error']} | | | | |")
                    continue
                lines.append(
                    f"| {lib} | {s:.0%} | {x['heads_per_block']} / {x['neurons_per_block']} | "
                    f"{x['params_ratio']:.3f} | {x['size_ratio']:.3f} | {x.get('latency_ratio_b1', float('nan')):.3f} "
                    f"| {x.get('latency_ratio_b32', float('nan')):.3f} |"
                )
        for lib, d in vb.items():
            lat = d["latency"]
            lines.append("")
            lines.append(
                f"{lib} dense: {lat['b1']['dense_ms']:.1f} ms at batch 1, {lat['b32']['dense_ms']:.0f} ms at batch 32."
            )
        note = vb.get("timm", {}).get("heads_note")
        if note:
            lines += ["", f"timm: {note}."]
        lines.append("")
    lines += [result["verdict"], "", "Timings were taken on a machine shared with other jobs; only the ratios inside one"
              " run are meaningful.", ""]  # fmt: skip
    (HERE / "structured.md").write_text("\n".join(lines))
    (HERE / "structured.json").write_text(json.dumps(result, indent=2))
    plot(result, HERE / "structured.png")


def plot(result: dict, path: Path) -> None:
    plt = pyplot()

    t, sp = result["table"], result["sparsities"]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2))
    xs = [100 * s for s in sp]
    for key in [f"s-{m}" for m in METHODS] + ["u-afr"]:
        mean = [t[key][f"{s:g}"]["mean"] for s in sp]
        std = [t[key][f"{s:g}"]["std"] for s in sp]
        ax.errorbar(xs, mean, yerr=std, marker="o", capsize=3, label=key, ls="--" if key == "u-afr" else "-")
    ax.axhline(t["dense"]["0"]["mean"], color="grey", ls=":", label="dense")
    ax.set_xlabel("prunable block weights removed [%]")
    ax.set_ylabel("MNIST test accuracy")
    ax.set_xticks(xs)
    ax.set_title("accuracy (mean +/- std, 3 seeds)")
    ax.legend(fontsize=7)
    series = [("small ViT s-afr", result["latency_small"], None)]
    vb = result.get("vit_b16") or {}
    for lib, d in vb.items():
        series.append((f"ViT-B/16 {lib}", None, d["per_sparsity"]))
    for name, small, per in series:
        for batch, marker in (("b1", "o"), ("b32", "s")):
            ys, xx = [], []
            for s in sp:
                if small is not None:
                    ys.append(small[f"{s:g}"][batch]["structured_ratio"])
                    xx.append(100 * s)
                elif f"latency_ratio_{batch}" in per.get(f"{s:g}", {}):
                    ys.append(per[f"{s:g}"][f"latency_ratio_{batch}"])
                    xx.append(100 * s)
            bx.plot(xx, ys, marker=marker, label=f"{name} {batch}")
    size = [t["s-afr"][f"{s:g}"]["safetensors_bytes"] / t["dense"]["0"]["safetensors_bytes"] for s in sp]
    bx.plot(xs, size, "k--", marker="x", label="small ViT file size")
    bx.axhline(0.55, color="red", lw=0.8, ls=":", label="goal at 50 %: 0.55")
    bx.set_xlabel("prunable block weights removed [%]")
    bx.set_ylabel("ratio to dense (CPU, 1 thread)")
    bx.set_xticks(xs)
    bx.set_title("latency and size of the structured export")
    bx.legend(fontsize=7)
    save_figure(fig, path, dpi=120)


def verdict(result: dict) -> str:
    t = result["table"]
    k = "0.5"
    if k not in t["s-afr"]:
        return ""
    sa, ua, dense = t["s-afr"][k], t["u-afr"][k], t["dense"]["0"]
    size = sa["safetensors_bytes"] / dense["safetensors_bytes"]
    small = result["latency_small"][k]
    parts = [
        f"At 50 % removed, structured AFR reaches {sa['mean']:.4f} vs unstructured AFR {ua['mean']:.4f} "
        f"(difference {sa['mean'] - ua['mean']:+.4f}); best structured method: "
        f"{max(METHODS, key=lambda m: t[f's-{m}'][k]['mean'])}.",
        f"File size {size:.3f}x dense ({'meets' if size <= 0.55 else 'misses'} the 0.55x goal).",
        f"Latency of the small benchmark ViT: {small['b1']['structured_ratio']:.3f}x at batch 1, "
        f"{small['b32']['structured_ratio']:.3f}x at batch 32.",
    ]
    vb = (result.get("vit_b16") or {}).get("transformers", {}).get("per_sparsity", {}).get(k)
    if vb:
        ok = vb["latency_ratio_b1"] <= 0.55 and vb["latency_ratio_b32"] <= 0.55
        parts.append(
            f"ViT-B/16 (transformers, 6 of 12 heads and half the neurons): latency {vb['latency_ratio_b1']:.3f}x at "
            f"batch 1, {vb['latency_ratio_b32']:.3f}x at batch 32, file {vb['size_ratio']:.3f}x "
            f"({'meets' if ok and vb['size_ratio'] <= 0.55 else 'misses'} the 0.55x goal)."
        )
    return "Measured: " + " ".join(parts)


def main() -> None:
    import sys

    sys.path.insert(0, str(HERE))
    from run import pretrain  # the Fashion-MNIST ViT of the unstructured benchmark

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke test; writes nothing")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 on a shared machine)")
    parser.add_argument("--pretrain-steps", type=int, default=1000)
    parser.add_argument("--finetune-steps", type=int, default=100)
    parser.add_argument("--skip-vit-b16", action="store_true", help="skip the ViT-B/16 timing")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    t_start = time.perf_counter()
    seeds, sparsities = (SEEDS[:1], SPARSITIES[1:2]) if args.quick else (SEEDS, SPARSITIES)
    pre_steps, ft_steps = (20, 5) if args.quick else (args.pretrain_steps, args.finetune_steps)
    small_repeats = {1: 5, 32: 3} if args.quick else {1: 30, 32: 10}
    with tempfile.TemporaryDirectory(prefix="hfnet-structured-bench-") as tmp:
        work = Path(tmp)
        model_dir, pre = pretrain(work, pre_steps)
        print(f"pretrained on Fashion-MNIST: accuracy {pre['accuracy']:.4f} in {pre['seconds']:.0f} s", flush=True)
        mnist = load_image_dataset("mnist", samples_per_class=200, test_samples_per_class=100, seed=0)
        rows, keep_models = [], {}
        for seed in seeds:
            row, clf = dense_run(model_dir, mnist, work, seed, ft_steps)
            rows.append(row)
            if seed == seeds[0]:
                keep_models["dense"] = clf
            print(f"dense seed {seed}: {row['accuracy']:.4f}", flush=True)
            for s in sparsities:
                for method in METHODS:
                    config = PruningConfig(
                        method=method, sparsity=s, structured=True, calibration_samples=256, pruning_seed=seed
                    )
                    row, clf = prune_run(model_dir, mnist, work, config, seed, ft_steps, f"s-{method}-{s:g}-{seed}")
                    rows.append(row)
                    print(
                        f"s-{method:9s} {s:.2f} seed {seed}: {row['accuracy']:.4f} ({row['heads_per_block']}h/"
                        f"{row['neurons_per_block']}n, {row['seconds']:.1f} s)",
                        flush=True,
                    )
                    if method == "afr":
                        structured_afr_removed = row["params_before"] - row["params"]
                        if seed == seeds[0]:
                            keep_models[f"s-{s:g}"] = clf
                # unstructured AFR with as many weights zeroed as structured AFR removed parameters
                prunable = sum(p.numel() for p in prunable_parameters(load_classifier(model_dir)).values())
                u_sparsity = structured_afr_removed / prunable
                config = PruningConfig(method="afr", sparsity=u_sparsity, calibration_samples=256, pruning_seed=seed)
                row, clf = prune_run(model_dir, mnist, work, config, seed, ft_steps, f"u-afr-{s:g}-{seed}")
                row["sparsity"] = s  # reported under the structured budget it matches
                row["zeroed_fraction"] = u_sparsity
                rows.append(row)
                if seed == seeds[0]:
                    keep_models[f"u-{s:g}"] = clf
                print(f"u-afr     {s:.2f} seed {seed}: {row['accuracy']:.4f} (zeroed {u_sparsity:.4f})", flush=True)
        latency_small = {}
        for s in sparsities:
            latency_small[f"{s:g}"] = latency_ratios(
                keep_models["dense"].model,
                {"structured": keep_models[f"s-{s:g}"].model, "unstructured": keep_models[f"u-{s:g}"].model},
                28,
                small_repeats,
            )
            print(f"latency small ViT {s:.0%}: {latency_small[f'{s:g}']}", flush=True)
        base = load_classifier(model_dir)
        prunable = sum(p.numel() for p in prunable_parameters(base).values())
        all_weights = sum(p.numel() for p in base.model.parameters())
        vb = None
        if not args.skip_vit_b16 and not args.quick:
            vb = vit_b16(sparsities, work, {1: 10, 32: 3})
    table = summarise(rows)
    result = {
        "command": "python benchmarks/pruning/structured.py" + (" --quick" if args.quick else ""),
        "machine": f"{platform.machine()} CPU, torch {torch.__version__}, {args.threads} thread(s), shared",
        "pretrain": pre,
        "finetune_steps": ft_steps,
        "sparsities": list(sparsities),
        "prunable_weights": prunable,
        "all_weights": all_weights,
        "rows": rows,
        "table": table,
        "latency_small": latency_small,
        "vit_b16": vb,
    }
    result["verdict"] = verdict(result)
    result["total_seconds"] = time.perf_counter() - t_start
    if args.quick:
        print(json.dumps({k: result[k] for k in ("table", "latency_small", "verdict")}, indent=1, default=str))
        return
    write_results(result)
    print((HERE / "structured.md").read_text())


if __name__ == "__main__":
    main()
