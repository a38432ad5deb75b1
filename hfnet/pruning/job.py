"""The prune job, as ``hfnet prune`` and ``recipes/prune_vit.py`` run it: options in, summary out.

Its steps: check the output folder, load the model, load the dataset, then score -> mask -> fine-tune with the mask
fixed -> the shared finish tail (:func:`hfnet.pruning.pipeline.run_pruning`), which saves and pushes.
"""

from __future__ import annotations

import tempfile
from typing import Any

from accelerate import PartialState

from hfnet.classifier import load_classifier
from hfnet.finish import SaveOptions
from hfnet.options import DatasetArguments, OutputArguments, TrainingOptions, config_dict
from hfnet.pruning.config import PruneArguments, PruningConfig
from hfnet.pruning.pipeline import run_pruning

__all__ = ["run_prune_job"]


def run_prune_job(
    script: PruneArguments,
    data_args: DatasetArguments,
    config: PruningConfig,
    training: TrainingOptions,
    output: OutputArguments,
    *,
    command: str | None = None,
) -> dict[str, Any]:
    """Prune ``script.model`` for ``data_args``; the run summary (``main_process`` False on the other processes)."""
    # Output: the folder rule first, before a model or dataset is loaded (or downloaded)
    SaveOptions(output.output_dir, **output.save_kwargs()).check()

    # Model
    classifier = load_classifier(script.model)

    # Dataset
    data = data_args.load(seed=training.seed)

    # Prune + Train (the head is replaced for the dataset's classes; the mask stays fixed while fine-tuning)
    with tempfile.TemporaryDirectory(prefix="hfnet-prune-") as work:
        training_args = training.to_training_arguments(work) if training.trains else None
        if training_args is not None:
            _ = training_args.device  # set up the (distributed) state before scoring
        else:
            PartialState(cpu=training.use_cpu)  # the same (distributed) state without a Trainer
        # Save / push: inside run_pruning, through the shared tail, on the main process
        summary = run_pruning(
            classifier,
            data,
            config,
            training_args,
            save_dir=output.output_dir,
            dataset_name=data_args.dataset,
            command=command,
            allow_untrained_head=script.allow_untrained_head,
            record=config_dict(script, data_args, config, training, output),
            **output.save_kwargs(),
        )
    summary["main_process"] = PartialState().is_main_process
    return summary
