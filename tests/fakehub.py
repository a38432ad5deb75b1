"""Fake Hub repos in a temporary HF_HUB_CACHE, as ``huggingface_hub`` lays them out, for offline tests.

``models--ORG--NAME/snapshots/<sha>/<files>`` plus ``refs/main`` holding ``<sha>``: with HF_HUB_OFFLINE=1,
``hf_hub_download`` / ``from_pretrained`` / ``timm.create_model("hf-hub:...")`` read them like a real cached repo.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import torch

VIT_BIT = "acme/vit-bit"  # BitImageProcessor: shortest edge + centre crop + bicubic + ImageNet mean/std
VIT_DEIT = "acme/vit-deit"  # DeiT-style: fixed resize 40x40 + centre crop 32 + bicubic
TIMM_VIT = "acme/timm-vit"  # timm test_vit: crop_pct 0.8, bicubic, aspect-preserving resize
NAMES = ["astronaut", "coffee", "cat"]
LICENSE = "mit"


def add_repo(cache: Path, repo_id: str, folder: Path) -> Path:
    """Put the files of ``folder`` into ``cache`` as the cached snapshot of ``repo_id``; returns the snapshot."""
    org, name = repo_id.split("/")
    root = cache / f"models--{org}--{name}"
    sha = hashlib.sha1(repo_id.encode()).hexdigest()
    snapshot = root / "snapshots" / sha
    snapshot.mkdir(parents=True, exist_ok=True)
    for f in folder.iterdir():
        if f.is_file() and not f.name.startswith("."):
            shutil.copyfile(f, snapshot / f.name)
    (root / "refs").mkdir(exist_ok=True)
    (root / "refs" / "main").write_text(sha)
    return snapshot


def _card(folder: Path) -> None:
    (folder / "README.md").write_text(f"---\nlicense: {LICENSE}\nlibrary_name: transformers\n---\n\n# a fake repo\n")


def _tiny_vit():
    from transformers import ViTConfig, ViTForImageClassification

    torch.manual_seed(0)
    config = ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=3,
        id2label=dict(enumerate(NAMES)),
        label2id={n: i for i, n in enumerate(NAMES)},
    )
    return ViTForImageClassification(config).eval()


def build_fake_hub(cache: Path, work: Path) -> dict[str, Path]:
    """Build the three fake repos; returns repo id -> snapshot folder."""
    import timm
    from timm.models._hub import save_for_hf
    from transformers import BitImageProcessor, DeiTImageProcessor

    out = {}
    bit = work / "bit"
    _tiny_vit().save_pretrained(bit)
    BitImageProcessor(
        size={"shortest_edge": 40},
        crop_size={"height": 32, "width": 32},
        do_center_crop=True,
        resample=3,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    ).save_pretrained(bit)
    _card(bit)
    out[VIT_BIT] = add_repo(cache, VIT_BIT, bit)

    deit = work / "deit"
    _tiny_vit().save_pretrained(deit)
    DeiTImageProcessor(
        size={"height": 40, "width": 40},
        crop_size={"height": 32, "width": 32},
        resample=3,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    ).save_pretrained(deit)
    _card(deit)
    out[VIT_DEIT] = add_repo(cache, VIT_DEIT, deit)

    tv = work / "timm"
    torch.manual_seed(0)
    model = timm.create_model("test_vit", num_classes=3, img_size=32)
    save_for_hf(
        model,
        str(tv),
        model_config={"label_names": NAMES},
        safe_serialization=True,
        data_config={
            "input_size": (3, 32, 32),
            "interpolation": "bicubic",
            "mean": (0.485, 0.456, 0.406),
            "std": (0.229, 0.224, 0.225),
            "crop_pct": 0.8,
            "crop_mode": "center",
        },
    )
    _card(tv)
    out[TIMM_VIT] = add_repo(cache, TIMM_VIT, tv)
    return out


def real_images() -> list:
    """Real non-square photos (scikit-image's bundled data), shrunk to keep the tests fast, plus one grey image."""
    from PIL import Image
    from skimage import data

    images = []
    for array in (data.astronaut()[:300, :450], data.coffee(), data.chelsea(), data.rocket()):
        im = Image.fromarray(np.ascontiguousarray(array))
        images.append(im.resize((im.width // 4, im.height // 4), Image.BICUBIC))
    images.append(Image.fromarray(data.camera()[:200, :120]))  # grey, portrait
    return images


def image_dataset(labels: list[int] | None = None):
    """The real images as a ``datasets.Dataset`` with the fake repos' class names."""
    import datasets

    images = real_images()
    labels = labels or [i % 3 for i in range(len(images))]
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=NAMES)})
    return datasets.Dataset.from_dict({"image": images, "label": labels}, features=features)


class FakeHfApi:
    """Stands in for ``huggingface_hub.HfApi`` in push tests: records ``create_repo`` / ``create_commit`` calls."""

    calls: list = []

    def __init__(self, token=None):
        self.token = token

    def create_repo(self, repo_id, **kw):
        FakeHfApi.calls.append(("create_repo", repo_id, kw))

    def create_commit(self, repo_id, operations, **kw):
        FakeHfApi.calls.append(("create_commit", repo_id, list(operations), kw))
        return type("Info", (), {"commit_url": f"https://huggingface.co/{repo_id}/commit/abc"})()
