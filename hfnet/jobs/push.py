r"""Upload a folder hfnet saved (config.json, model.safetensors, processor, README.md card) to the Hub.

    hfnet push vit-afr-90 --hub-model-id you/vit-afr-90 [--private]

The local folder is never modified or removed, even when the push fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hfnet.errors import HfnetError
from hfnet.jobs import JobResult

HELP = "upload a saved model folder to the Hugging Face Hub with its model card"


@dataclass
class PushArguments:
    """Push: which folder, to which repository."""

    folder: str = field(metadata={"help": "a folder written by hfnet", "positional": True})
    hub_model_id: str = field(
        metadata={"help": "The Hub repository, e.g. you/vit-pruned-afr-90.", "aliases": ("--repo-id",)}
    )
    private: bool = field(default=False, metadata={"help": "Create the repository as private."})
    hub_token: str | None = field(
        default=None, metadata={"help": "Hub token (default: the one `hf auth login` saved).", "aliases": ("--token",)}
    )

    def __post_init__(self) -> None:
        if self.hub_model_id.count("/") > 1 or not self.hub_model_id.strip("/"):
            raise HfnetError(f"--hub-model-id {self.hub_model_id!r} is not a repository id like you/model-name")


ARGUMENTS = (PushArguments,)


def run(script: PushArguments) -> JobResult:
    from hfnet.hub import push_to_hub

    url = push_to_hub(script.folder, script.hub_model_id, private=script.private, token=script.hub_token)
    return JobResult(f"pushed {script.folder} to {url}", {"url": url})
