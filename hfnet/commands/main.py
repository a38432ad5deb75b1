"""``hfnet COMMAND ...``: dispatch to the job, one-line errors, ``-v`` anywhere on the line."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence

from hfnet import __version__
from hfnet.jobs import JOBS, load_job, report_error, run_parsed, setup_logging
from hfnet.options import add_dataclass_arguments, dataclasses_from_namespace


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``hfnet`` parser; only ``command``'s options are built (all subcommands are listed either way)."""
    parser = argparse.ArgumentParser(
        prog="hfnet",
        description="Reuse and compress pretrained image classifiers: rank, prune, merge, distill, push.",
        epilog="`hfnet COMMAND --help` lists a command's options; -v (anywhere) logs at INFO level.",
    )
    parser.add_argument("--version", action="version", version=f"hfnet {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in JOBS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            job = load_job(name)
            p.description = (job.__doc__ or help_text).strip()
            p.formatter_class = argparse.RawDescriptionHelpFormatter
            for dtype in job.ARGUMENTS:
                add_dataclass_arguments(p, dtype, _title(dtype))
    return parser


def _title(dtype: type) -> str:
    first = (dtype.__doc__ or dtype.__name__).strip().splitlines()[0]
    return first.split(":")[0].lower()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = any(a in ("-v", "--verbose") for a in argv)
    argv = [a for a in argv if a not in ("-v", "--verbose")]
    command = next((a for a in argv if not a.startswith("-")), None)
    if command is not None and command not in JOBS:
        command = None
    try:
        parser = build_parser(command)
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help()
            return 2
        job = load_job(args.command)
        options = dataclasses_from_namespace(args, job.ARGUMENTS)
    except Exception as e:  # noqa: BLE001 - validation errors print as one line
        return report_error(e)
    setup_logging(verbose)
    return run_parsed(job, options, command=shlex.join(["hfnet", *argv]))


if __name__ == "__main__":
    sys.exit(main())
