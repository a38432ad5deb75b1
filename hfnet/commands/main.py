"""``hfnet COMMAND ...``: dispatch to the job, one-line errors, ``-v`` anywhere on the line."""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence

from hfnet import __version__
from hfnet.jobs import JOBS, report_error, run_job


def build_parser() -> argparse.ArgumentParser:
    """The top-level ``hfnet`` parser: lists the subcommands (each is parsed by its job's own parser)."""
    parser = argparse.ArgumentParser(
        prog="hfnet",
        description="Reuse and compress pretrained image classifiers: rank, prune, merge, distill, push.",
        epilog="`hfnet COMMAND --help` lists a command's options; -v (anywhere) logs at INFO level.",
    )
    parser.add_argument("--version", action="version", version=f"hfnet {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in JOBS.items():
        sub.add_parser(name, help=help_text, description=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``hfnet COMMAND ARGS``: the job's own parser reads ARGS, exactly as its recipe's does (one parse path)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if a not in ("-v", "--verbose")), None)
    if command in JOBS:
        rest = list(argv)
        rest.remove(command)
        return run_job(command, rest, prog=f"hfnet {command}")
    if command is not None and not command.startswith("-"):
        return _unknown_command(command)
    parser = build_parser()
    try:
        parser.parse_args(argv)
    except Exception as e:  # noqa: BLE001 - one line, like every other error
        return report_error(e)
    parser.print_help()
    return 2


def _unknown_command(command: str) -> int:
    """One line, exit 1 (as every usage error): the unknown name, the closest command, and every command."""
    close = difflib.get_close_matches(command, list(JOBS), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    print(f"error: unknown command {command!r}; {hint}commands: {', '.join(JOBS)} (hfnet --help)", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
