"""``hfnet demo`` step: the zoo's Fashion-MNIST ViT compressed 50 % (structured AFR + KD from itself as teacher)."""

from __future__ import annotations

import time
from typing import Any

__all__ = ["demo_step"]


def demo_step(ctx: Any) -> list[dict[str, Any]]:
    """One line: the compressed model's size, CPU latency and accuracy against its teacher (``hfnet compress``)."""
    from hfnet.compression.config import CompressConfig
    from hfnet.compression.pipeline import run_compress
    from hfnet.finish import SaveOptions
    from hfnet.options import TrainingOptions

    key, data_key = ("fashion_vit", "fashion_mnist") if "fashion_vit" in ctx.zoo else ("digits_vit", "digits")
    t0 = time.perf_counter()
    steps = 10 if getattr(ctx, "quick", False) else 200
    quick = getattr(ctx, "quick", False)
    config = CompressConfig(sparsity=0.5, calibration_samples=32 if quick else 256, pruning_seed=ctx.seed)
    training = TrainingOptions(max_steps=steps, batch_size=32, learning_rate=1e-3, seed=ctx.seed)
    save = SaveOptions(str(ctx.output_dir / "compression" / f"{key}-compressed-50"), overwrite=ctx.overwrite)
    done, s = run_compress(
        str(ctx.zoo[key]), ctx.datasets[data_key], config, training, save, dataset_name=data_key,
        command=f"hfnet compress {key} --dataset {data_key} --sparsity 0.5 --max-steps {steps} --batch-size 32",
    )  # fmt: skip
    return [
        {
            "model": f"{key} compressed 50% (structured AFR + KD, {steps} steps)",
            "accuracy": s["accuracy"],
            "teacher_accuracy": s["accuracy_teacher"],
            "params_ratio": round(s["params_compressed"] / s["params_teacher"], 3),
            "size_ratio": round(s["bytes_compressed"] / s["bytes_teacher"], 3),
            "latency_ratio_b1": round(s["latency_ratio_b1"], 3),
            "latency_ratio_b32": round(s["latency_ratio_b32"], 3),
            "seconds": round(time.perf_counter() - t0, 1),
            "saved": str(done.output_dir),
        }
    ]
