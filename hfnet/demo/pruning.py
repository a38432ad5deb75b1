"""``hfnet demo`` step: the Fashion-MNIST tiny ViT pruned at 90 % for MNIST with SNIP, ReFer and AFR."""

from __future__ import annotations

import time
from typing import Any

METHODS = ("snip", "refer", "afr")


def demo_step(ctx) -> list[dict[str, Any]]:
    """Prune ``ctx.zoo["fashion_vit"]`` for MNIST (90 %, 256 calibration images), fine-tune 150 steps, evaluate."""
    import torch

    from hfnet.classifier import load_classifier
    from hfnet.pruning.config import PruningConfig
    from hfnet.pruning.pipeline import run_pruning
    from hfnet.training import default_training_arguments

    data = ctx.datasets["mnist"]
    out = ctx.output_dir / "pruning"
    rows = []
    for method in METHODS:
        t0 = time.perf_counter()
        torch.manual_seed(ctx.seed)
        classifier = load_classifier(ctx.zoo["fashion_vit"])
        config = PruningConfig(method=method, sparsity=0.9, calibration_samples=256, pruning_seed=ctx.seed)
        args = default_training_arguments(
            str(out / "runs" / method),
            max_steps=150,
            batch_size=32,
            learning_rate=2e-3,
            seed=ctx.seed,
            disable_tqdm=True,
            logging_steps=1000,
        )
        summary = run_pruning(
            classifier, data, config, args, save_dir=out / f"fashion_vit-mnist-{method}-90", dataset_name="mnist"
        )
        rows.append(
            {
                "model": f"fashion_vit -> mnist, {method} 90%",
                "accuracy": summary["accuracy"],
                "sparsity": round(summary["sparsity_prunable"], 4),
                "scoring_s": summary["scoring_seconds"],
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
    return rows
