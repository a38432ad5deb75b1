"""Shared fixtures: tiny timm and transformers classifiers saved to temporary Hub-format folders, real datasets.

Everything is built locally (no network): tests run with HF_HUB_OFFLINE=1.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(min(2, torch.get_num_threads()))

DIGIT_NAMES = [str(i) for i in range(10)]
SMALL_NAMES = ["cat", "dog", "bird"]


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's 1797 real 8x8 digits as a DatasetDict (train 1437 / test 360)."""
    from hfnet.data import load_image_dataset

    return load_image_dataset("digits")


@pytest.fixture(scope="session")
def digits_small():
    """20 train / 5 test images per digit class: for quick training loops."""
    from hfnet.data import load_image_dataset

    return load_image_dataset("digits", samples_per_class=20, test_samples_per_class=5, seed=0)


@pytest.fixture(scope="session")
def tiny_vit_classifier():
    """A transformers ViT (hidden 32, 2 layers, 32 px, patch 8) with 3 named classes."""
    from hfnet.zoo import tiny_vit

    return tiny_vit(SMALL_NAMES, image_size=32, patch_size=8, hidden_size=32, num_layers=2, num_heads=2, seed=0)


@pytest.fixture(scope="session")
def tiny_vit_dir(tmp_path_factory, tiny_vit_classifier):
    """The tiny transformers ViT saved by hfnet as a Hub-format folder."""
    return tiny_vit_classifier.save_pretrained(tmp_path_factory.mktemp("tiny_vit") / "model")


@pytest.fixture(scope="session")
def tiny_timm_classifier():
    """timm's registered ``test_vit`` at 32 px with 3 named classes."""
    import timm

    from hfnet.classifier import HubClassifier

    torch.manual_seed(0)
    model = timm.create_model("test_vit", num_classes=3, img_size=32)
    return HubClassifier.from_model(model, class_names=SMALL_NAMES)


@pytest.fixture(scope="session")
def tiny_timm_dir(tmp_path_factory, tiny_timm_classifier):
    """The tiny timm ViT saved by hfnet as a Hub-format folder."""
    return tiny_timm_classifier.save_pretrained(tmp_path_factory.mktemp("tiny_timm") / "model")


@pytest.fixture(scope="session")
def tiny_resnet_dir(tmp_path_factory):
    """A tiny transformers ResNet (BatchNorm, residuals) with the 10 digit classes, saved by hfnet."""
    from hfnet.zoo import tiny_resnet

    clf = tiny_resnet(DIGIT_NAMES, embedding_size=16, hidden_sizes=(16, 32), depths=(1, 1), seed=0)
    return clf.save_pretrained(tmp_path_factory.mktemp("tiny_resnet") / "model")


@pytest.fixture(scope="session")
def tiny_timm_resnet_dir(tmp_path_factory):
    """timm's registered ``test_resnet`` with the 10 digit classes, saved by hfnet."""
    import timm

    from hfnet.classifier import HubClassifier

    torch.manual_seed(0)
    model = timm.create_model("test_resnet", num_classes=10)
    clf = HubClassifier.from_model(model, class_names=DIGIT_NAMES)
    return clf.save_pretrained(tmp_path_factory.mktemp("tiny_timm_resnet") / "model")


@pytest.fixture(scope="module")
def fake_hub(tmp_path_factory):
    """Fake Hub repos (tests/fakehub.py) in a temporary HF_HUB_CACHE, offline: {repo id: snapshot folder}."""
    import huggingface_hub.constants
    from fakehub import build_fake_hub

    cache = tmp_path_factory.mktemp("hf_cache")
    snapshots = build_fake_hub(cache, tmp_path_factory.mktemp("fake_repos"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
        mp.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
        yield snapshots


@pytest.fixture(scope="module")
def kd_digits():
    """8 train / 4 test digits per class: the distillation tests' data."""
    from hfnet.data import load_image_dataset

    return load_image_dataset("digits", samples_per_class=8, test_samples_per_class=4)


@pytest.fixture(scope="module")
def names(kd_digits):
    """kd_digits' classes as words: hfnet.hub treats bare numbers as placeholder labels."""
    from hfnet.data import class_names

    return [f"digit {n}" for n in class_names(kd_digits)]
