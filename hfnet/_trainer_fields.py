"""Every ``transformers.TrainingArguments`` field as static data: name, kind, default, choices, first help sentence.

Each training job's parser lists every Trainer option under its own name from this table, without importing
transformers (which takes seconds). A test compares the table with the installed transformers; regenerate it with
the rows ``python -m hfnet._trainer_fields`` prints after an upgrade.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing

TRANSFORMERS_VERSION = "5.24.0"

# (name, kind, default, choices, help); kind: bool | int | float | str | list | json
TRAINER_FIELDS: tuple[tuple, ...] = (
    (
        "output_dir",
        "str",
        None,
        None,
        "The output directory where the model predictions and checkpoints will be written",
    ),
    ("per_device_train_batch_size", "int", 8, None, "The batch size per device for training"),
    ("num_train_epochs", "float", 3.0, None, "Total number of training epochs to perform"),
    ("max_steps", "int", -1, None, "Overrides `num_train_epochs`"),
    ("learning_rate", "float", 5e-05, None, "The initial learning rate for the optimizer"),
    (
        "lr_scheduler_type",
        "str",
        "linear",
        (
            "linear",
            "cosine",
            "cosine_with_restarts",
            "polynomial",
            "constant",
            "constant_with_warmup",
            "inverse_sqrt",
            "reduce_lr_on_plateau",
            "cosine_with_min_lr",
            "cosine_warmup_with_min_lr",
            "warmup_stable_decay",
            "greedy",
        ),
        "The learning rate scheduler type to use",
    ),
    ("lr_scheduler_kwargs", "json", None, None, "The extra arguments for the lr_scheduler"),
    ("warmup_steps", "float", 0, None, "Number of steps for a linear warmup from 0 to `learning_rate`"),
    (
        "optim",
        "str",
        "adamw_torch_fused",
        (
            "adamw_torch",
            "adamw_torch_fused",
            "adamw_torch_xla",
            "adamw_torch_npu_fused",
            "adafactor",
            "adamw_anyprecision",
            "adamw_torch_4bit",
            "adamw_torch_8bit",
            "ademamix",
            "sgd",
            "adagrad",
            "adamw_bnb_8bit",
            "adamw_8bit",
            "ademamix_8bit",
            "lion_8bit",
            "lion_32bit",
            "paged_adamw_32bit",
            "paged_adamw_8bit",
            "paged_ademamix_32bit",
            "paged_ademamix_8bit",
            "paged_lion_32bit",
            "paged_lion_8bit",
            "rmsprop",
            "rmsprop_bnb",
            "rmsprop_bnb_8bit",
            "rmsprop_bnb_32bit",
            "galore_adamw",
            "galore_adamw_8bit",
            "galore_adafactor",
            "galore_adamw_layerwise",
            "galore_adamw_8bit_layerwise",
            "galore_adafactor_layerwise",
            "lomo",
            "adalomo",
            "grokadamw",
            "schedule_free_radam",
            "schedule_free_adamw",
            "schedule_free_sgd",
            "apollo_adamw",
            "apollo_adamw_layerwise",
            "stable_adamw",
        ),
        "The optimizer to use",
    ),
    (
        "optim_args",
        "str",
        None,
        None,
        "Optional arguments supplied to optimizers such as AnyPrecisionAdamW, AdEMAMix, and GaLore",
    ),
    ("weight_decay", "float", 0.0, None, "Weight decay coefficient applied by the optimizer"),
    (
        "adam_beta1",
        "float",
        0.9,
        None,
        "The exponential decay rate for the first moment estimates (momentum) in Adam-based optimizers",
    ),
    (
        "adam_beta2",
        "float",
        0.999,
        None,
        "The exponential decay rate for the second moment estimates (variance) in Adam-based optimizers",
    ),
    ("adam_epsilon", "float", 1e-08, None, "Epsilon value for numerical stability in Adam-based optimizers"),
    ("optim_target_modules", "list", None, None, "The target modules to optimize"),
    (
        "gradient_accumulation_steps",
        "int",
        1,
        None,
        "Number of update steps to accumulate gradients before performing a backward/update pass",
    ),
    ("average_tokens_across_devices", "bool", True, None, "Whether or not to average tokens across devices"),
    ("max_grad_norm", "float", 1.0, None, "Maximum gradient norm for gradient clipping"),
    ("label_smoothing_factor", "float", 0.0, None, "Label smoothing factor to prevent overconfidence"),
    ("bf16", "bool", False, None, "Enable bfloat16 (BF16) mixed precision training"),
    ("fp16", "bool", False, None, "Enable float16 (FP16) mixed precision training"),
    ("bf16_full_eval", "bool", False, None, "Use full BF16 precision for evaluation (not just mixed precision)"),
    ("fp16_full_eval", "bool", False, None, "Use full FP16 precision for evaluation (not just mixed precision)"),
    ("tf32", "bool", None, None, "Enable TF32 mode on Ampere and newer GPUs"),
    ("activation_checkpointing", "bool", None, None, "Enable activation checkpointing to trade compute for memory"),
    (
        "activation_checkpointing_kwargs",
        "json",
        None,
        None,
        "Keyword arguments passed to `activation_checkpointing_enable()`",
    ),
    (
        "gradient_checkpointing",
        "bool",
        None,
        None,
        "Deprecated alias of `activation_checkpointing`, will be removed in v6",
    ),
    (
        "gradient_checkpointing_kwargs",
        "json",
        None,
        None,
        "Deprecated alias of `activation_checkpointing_kwargs`, will be removed in v6",
    ),
    ("torch_compile", "bool", False, None, "Compile the model using `torch.compile()` for faster training"),
    ("torch_compile_backend", "str", None, None, "Backend for `torch.compile()`"),
    ("torch_compile_mode", "str", None, None, "Compilation mode for `torch.compile()`"),
    ("use_liger_kernel", "bool", False, None, "Enable Liger Kernel optimizations"),
    ("liger_kernel_config", "json", None, None, "Configuration for Liger Kernel"),
    (
        "use_cache",
        "bool",
        False,
        None,
        "Whether or not to use cache for the model For training, this is usually not needed apart from some PEFT methods that uses `cache`",
    ),
    ("neftune_noise_alpha", "float", None, None, "If not None, activates NEFTune noise embeddings"),
    (
        "torch_empty_cache_steps",
        "int",
        None,
        None,
        "Number of steps to wait before calling `torch.<device>.empty_cache()`",
    ),
    (
        "auto_find_batch_size",
        "bool",
        False,
        None,
        "Whether to find a training batch size that will fit into memory automatically through exponential decay, avoiding CUDA Out-of-Memory errors",
    ),
    ("logging_strategy", "str", "steps", ("no", "steps", "epoch"), "The logging strategy to adopt during training"),
    ("logging_steps", "float", 500, None, "Log every X updates steps"),
    ("logging_first_step", "bool", False, None, "Whether to log the first `global_step` or not"),
    (
        "log_on_each_node",
        "bool",
        True,
        None,
        "When doing a multinode distributed training, whether to log once per node or just once on the main node",
    ),
    (
        "logging_nan_inf_filter",
        "bool",
        True,
        None,
        "Filter out NaN and Inf training and evaluation losses when logging",
    ),
    ("include_num_input_tokens_seen", "str", "no", None, "Whether to track the number of input tokens seen"),
    ("log_level", "str", "passive", None, "Logging level for the main process"),
    ("log_level_replica", "str", "warning", None, "Logging level for replica processes in distributed training"),
    ("disable_tqdm", "bool", None, None, "Disable tqdm progress bars"),
    ("report_to", "list", "none", None, "The list of integrations to report the results and logs to"),
    ("run_name", "str", None, None, "An optional descriptor for the run"),
    ("project", "str", "huggingface", None, "The name of the project to use for logging"),
    (
        "trackio_space_id",
        "str",
        None,
        None,
        "Hugging Face Space id for live Gradio-based Trackio logging (read/write Bucket access)",
    ),
    (
        "trackio_bucket_id",
        "str",
        None,
        None,
        "Optional HF Bucket id when using a Trackio Space; if unset, Trackio picks a default",
    ),
    (
        "trackio_static_space_id",
        "str",
        None,
        None,
        "Static read-only Trackio Space over the Bucket (stable model-card links)",
    ),
    ("eval_strategy", "str", "no", ("no", "steps", "epoch"), "When to run evaluation"),
    ("eval_steps", "float", None, None, "Number of update steps between evaluations if `eval_strategy='steps'`"),
    (
        "eval_delay",
        "float",
        0,
        None,
        "Number of epochs or steps to wait for before the first evaluation can be performed, depending on the eval_strategy",
    ),
    ("per_device_eval_batch_size", "int", 8, None, "The batch size per device (GPU/TPU core/CPU) for evaluation"),
    (
        "prediction_loss_only",
        "bool",
        False,
        None,
        "When performing evaluation and generating predictions, only returns the loss",
    ),
    (
        "eval_on_start",
        "bool",
        False,
        None,
        "Whether to run through the entire `evaluation` step at the very beginning of training as a sanity check",
    ),
    (
        "eval_do_concat_batches",
        "bool",
        True,
        None,
        "Whether to recursively concat inputs/losses/labels/predictions across batches",
    ),
    (
        "eval_use_gather_object",
        "bool",
        False,
        None,
        "Whether to run recursively gather object in a nested list/tuple/dictionary of objects from all devices",
    ),
    (
        "eval_accumulation_steps",
        "int",
        None,
        None,
        "Number of predictions steps to accumulate the output tensors for, before moving the results to the CPU",
    ),
    ("include_for_metrics", "list", [], None, "Include additional data in the `compute_metrics` function"),
    ("batch_eval_metrics", "bool", False, None, "Break eval metrics calculation into batches to save memory"),
    ("save_only_model", "bool", False, None, "Save only model weights, not optimizer/scheduler/RNG state"),
    (
        "save_strategy",
        "str",
        "steps",
        ("no", "steps", "epoch", "best"),
        "The checkpoint save strategy to adopt during training",
    ),
    ("save_steps", "float", 500, None, "Save checkpoint every X updates steps"),
    (
        "save_on_each_node",
        "bool",
        False,
        None,
        "When doing multi-node distributed training, whether to save models and checkpoints on each node, or only on the main one",
    ),
    ("save_total_limit", "int", None, None, "Maximum number of checkpoints to keep"),
    (
        "enable_jit_checkpoint",
        "bool",
        False,
        None,
        "Enable JIT checkpointing on SIGTERM signal for graceful termination on preemptible workloads",
    ),
    ("push_to_hub", "bool", False, None, "Whether or not to push the model to the Hub every time the model is saved"),
    ("hub_token", "str", None, None, "The token to use to push the model to the Hub"),
    ("hub_private_repo", "bool", None, None, "Whether to make the repo private"),
    ("hub_model_id", "str", None, None, "The name of the repository to keep in sync with the local `output_dir`"),
    (
        "hub_strategy",
        "str",
        "every_save",
        ("end", "every_save", "checkpoint", "all_checkpoints"),
        "Defines what and when to push to Hub",
    ),
    (
        "hub_always_push",
        "bool",
        False,
        None,
        "Unless `True`, the Trainer will skip pushes if the previous one wasn't finished yet",
    ),
    ("hub_revision", "str", None, None, "The revision to use when pushing to the Hub"),
    ("load_best_model_at_end", "bool", False, None, "Load the best checkpoint at the end of training"),
    (
        "metric_for_best_model",
        "str",
        None,
        None,
        "Metric to use for comparing models when `load_best_model_at_end=True`",
    ),
    ("greater_is_better", "bool", None, None, "Whether higher metric values are better"),
    (
        "ignore_data_skip",
        "bool",
        False,
        None,
        "When resuming training, skip fast-forwarding through the dataset to reach the previous state",
    ),
    (
        "restore_callback_states_from_checkpoint",
        "bool",
        False,
        None,
        "Whether to restore the callback states from the checkpoint",
    ),
    (
        "full_determinism",
        "bool",
        False,
        None,
        "Whether to call enable_full_determinism instead of set_seed for reproducibility in distributed training",
    ),
    ("seed", "int", 42, None, "Random seed that will be set at the beginning of training"),
    ("data_seed", "int", None, None, "Random seed to be used with data samplers"),
    ("use_cpu", "bool", False, None, "Whether or not to use cpu"),
    ("accelerator_config", "json", None, None, "Configuration for the internal Accelerate integration"),
    ("parallelism_config", "json", None, None, "Parallelism configuration for the training run"),
    (
        "dataloader_drop_last",
        "bool",
        False,
        None,
        "Drop the last incomplete batch if it is not divisible by the batch size",
    ),
    ("dataloader_num_workers", "int", 0, None, "Number of subprocesses to use for data loading (PyTorch only)"),
    ("dataloader_pin_memory", "bool", True, None, "Whether or not to pin memory for DataLoader"),
    (
        "dataloader_persistent_workers",
        "bool",
        False,
        None,
        "If True, the data loader will not shut down the worker processes after a dataset has been consumed once",
    ),
    ("dataloader_prefetch_factor", "int", None, None, "Number of batches loaded in advance by each worker"),
    (
        "dataloader_multiprocessing_context",
        "str",
        None,
        None,
        "The multiprocessing start method to use for data loading workers ('fork', 'spawn', or 'forkserver')",
    ),
    (
        "dataloader_in_order",
        "bool",
        True,
        None,
        "If True (default), the data loader yields batches in the order workers were dispatched",
    ),
    (
        "remove_unused_columns",
        "bool",
        True,
        None,
        "Whether or not to automatically remove the columns unused by the model forward method",
    ),
    ("label_names", "list", None, None, "The list of keys in your dictionary of inputs that correspond to the labels"),
    (
        "train_sampling_strategy",
        "str",
        "random",
        None,
        "Sampler for training: 'random' (default), 'sequential', 'group_by_length', or 'batch_rebalance'",
    ),
    ("length_column_name", "str", "length", None, "Column name for precomputed lengths"),
    (
        "ddp_find_unused_parameters",
        "bool",
        None,
        None,
        "When using distributed training, the value of the flag `find_unused_parameters` passed to `DistributedDataParallel`",
    ),
    (
        "ddp_bucket_cap_mb",
        "int",
        None,
        None,
        "When using distributed training, the value of the flag `bucket_cap_mb` passed to `DistributedDataParallel`",
    ),
    (
        "ddp_broadcast_buffers",
        "bool",
        None,
        None,
        "When using distributed training, the value of the flag `broadcast_buffers` passed to `DistributedDataParallel`",
    ),
    (
        "ddp_static_graph",
        "bool",
        None,
        None,
        "When using distributed training, the value of the flag `static_graph` passed to `DistributedDataParallel`",
    ),
    ("ddp_backend", "str", None, None, "The backend to use for distributed training"),
    ("ddp_timeout", "int", 1800, None, "The timeout for `torch.distributed.init_process_group` calls (in seconds)"),
    ("fsdp", "str", None, None, "Enable PyTorch Fully Sharded Data Parallel (FSDP) for distributed training"),
    ("fsdp_config", "json", None, None, "Tuning for FSDP (used only when `fsdp` is enabled)"),
    ("deepspeed", "json", None, None, "Enable DeepSpeed integration"),
    ("debug", "list", "", None, "Enable one or more debug features"),
    ("skip_memory_metrics", "bool", True, None, "Whether to skip adding memory profiler reports to metrics"),
    ("do_train", "bool", False, None, "Whether to run training"),
    ("do_eval", "bool", False, None, "Whether to run evaluation"),
    ("do_predict", "bool", False, None, "Whether to run predictions on the test set"),
    ("resume_from_checkpoint", "str", None, None, "Path to a folder with a valid checkpoint for your model"),
    (
        "local_rank",
        "int",
        -1,
        None,
        "When using torch.distributed.launch (Deprecated), it will pass `local_rank` in the script, so we need this for the parser",
    ),
)


def _kind(tp: typing.Any) -> tuple[str, tuple | None]:
    union = typing.get_origin(tp) in (typing.Union, types.UnionType)
    args = [a for a in (typing.get_args(tp) if union else (tp,)) if a is not type(None)]
    choices = None
    kinds = set()
    for a in args:
        origin = typing.get_origin(a)
        if isinstance(a, type) and issubclass(a, enum.Enum):
            choices = tuple(m.value for m in a)
            kinds.add("str")
        elif origin in (list, tuple):
            kinds.add("list")
        elif origin is dict or a is dict:
            kinds.add("json")
        elif origin is typing.Literal:
            kinds.add("str")
        elif a in (bool, int, float, str):
            kinds.add(a.__name__)
        else:
            kinds.add("json")
    for kind in ("json", "list"):
        if kind in kinds:
            return kind, choices
    if kinds == {"bool", "str"}:
        return "str", choices
    if len(kinds) == 1:
        return kinds.pop(), choices
    return "json", choices


def generate() -> tuple[tuple, ...]:
    """The table, read from the installed ``transformers.TrainingArguments`` (imports transformers)."""
    from transformers import TrainingArguments  # only here: the table itself must stay import-free

    rows = []
    for f in dataclasses.fields(TrainingArguments):
        if not f.init or f.name.startswith("_"):
            continue
        default = f.default
        if default is dataclasses.MISSING:
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        if isinstance(default, enum.Enum):
            default = default.value
        kind, choices = _kind(f.type)
        if kind == "json" and not isinstance(default, (dict, str, int, float, bool, type(None))):
            default = None
        text = " ".join((f.metadata.get("help") or "").split()).split(". ")[0].rstrip(".")
        rows.append((f.name, kind, default, choices, text if len(text) <= 160 else text[:157] + "..."))
    return tuple(rows)


if __name__ == "__main__":
    for row in generate():  # paste over TRAINER_FIELDS
        print(f"    {row!r},")
