"""hfnet: reuse and compress pretrained image classifiers on the Hugging Face stack.

Rank candidate Hub models for a dataset, prune pretrained ViTs, merge same-architecture models, distill with
Trainers, and push the results as ordinary Hub checkpoints with model cards.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hfnet._lazy import lazy_exports

__version__ = "0.1.0"

__all__ = [
    "HfnetError",
    "HubClassifier",
    "ModelCardInfo",
    "Preprocessing",
    "__version__",
    "class_names",
    "evaluate_classifier",
    "load_classifier",
    "load_image_dataset",
    "push_to_hub",
    "train_classifier",
    "with_model_transform",
]

from hfnet.errors import HfnetError  # noqa: E402

# heavy libraries (torch, transformers, datasets) load on first use, so `hfnet --help` stays fast
_EXPORTS = {
    "HfnetError": "hfnet.errors",
    "HubClassifier": "hfnet.classifier",
    "ModelCardInfo": "hfnet.cards",
    "Preprocessing": "hfnet.preprocessing",
    "load_classifier": "hfnet.classifier",
    "push_to_hub": "hfnet.hub",
    "load_image_dataset": "hfnet.data",
    "class_names": "hfnet.data",
    "with_model_transform": "hfnet.preprocessing",
    "evaluate_classifier": "hfnet.evaluation",
    "train_classifier": "hfnet.training",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from hfnet.cards import ModelCardInfo
    from hfnet.classifier import HubClassifier, load_classifier
    from hfnet.data import class_names, load_image_dataset
    from hfnet.evaluation import evaluate_classifier
    from hfnet.hub import push_to_hub
    from hfnet.preprocessing import Preprocessing, with_model_transform
    from hfnet.training import train_classifier
