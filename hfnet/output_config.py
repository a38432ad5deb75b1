"""Options every job that writes a result shares: the output-folder rule and the push to the Hub.

Declared once as dataclasses so ``hfnet X`` and ``recipes/X.py`` parse the same options (``HfArgumentParser``).
Commands that also parse ``TrainingArguments`` take only :class:`OutputArguments` and read the push options from
``TrainingArguments`` (``push_to_hub``, ``hub_model_id``, ``hub_private_repo``), whose names they would clash with;
commands without a Trainer (merge) take both dataclasses. Imports nothing heavy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hfnet.errors import HfnetError

__all__ = ["OutputArguments", "PushArguments"]


@dataclass
class OutputArguments:
    """Where a result goes and whether an existing folder may be written into."""

    overwrite: bool = field(
        default=False,
        metadata={
            "help": "Write into an output folder that already holds other files: only the files hfnet writes are "
            "replaced, everything else stays. Without it such a folder is refused. The home directory and a "
            "filesystem root are refused either way."
        },
    )


@dataclass
class PushArguments:
    """Upload the saved result to the Hugging Face Hub (the local folder is kept whatever happens)."""

    push_to_hub: bool = field(
        default=False,
        metadata={"help": "Upload the saved checkpoint to the Hub repo --hub-model-id (created if needed)."},
    )
    hub_model_id: str | None = field(
        default=None, metadata={"help": "The Hub repo to push to, OWNER/NAME (needed with --push-to-hub)."}
    )
    private: bool = field(default=False, metadata={"help": "Create the Hub repo as private."})

    def __post_init__(self) -> None:
        if self.push_to_hub and not self.hub_model_id:
            raise HfnetError("--push-to-hub needs --hub-model-id OWNER/NAME")
        if self.hub_model_id is not None and not re.fullmatch(r"[\w.\-]+/[\w.\-]+", self.hub_model_id):
            raise HfnetError(f"--hub-model-id must look like OWNER/NAME, got {self.hub_model_id!r}")
