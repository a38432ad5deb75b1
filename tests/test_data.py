"""Datasets: built-in sources give the source's counts and names; transforms feed any model; bad input is clear."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hfnet.builtin_datasets import FASHION_MNIST_CLASSES
from hfnet.data import class_names, collate_fn, load_image_dataset
from hfnet.errors import HfnetError
from hfnet.preprocessing import with_model_transform


def test_digits_counts_and_names(digits):
    assert len(digits["train"]) + len(digits["test"]) == 1797
    assert len(digits["test"]) == 360
    assert class_names(digits) == [str(i) for i in range(10)]
    # deterministic split: loading again gives the same labels
    again = load_image_dataset("digits")
    assert again["test"]["label"] == digits["test"]["label"]
    image = digits["train"][0]["image"]
    assert image.size == (8, 8)


def test_fashion_mnist_counts_and_names():
    dd = load_image_dataset("fashion_mnist")
    assert (len(dd["train"]), len(dd["test"])) == (60000, 10000)
    assert class_names(dd) == FASHION_MNIST_CLASSES
    assert np.bincount(dd["test"]["label"]).tolist() == [1000] * 10
    assert dd["train"][0]["image"].size == (28, 28)


def test_mnist_counts():
    dd = load_image_dataset("mnist", samples_per_class=3, test_samples_per_class=2)
    assert np.bincount(dd["train"]["label"]).tolist() == [3] * 10
    assert len(dd["test"]) == 20


def test_per_class_subsampling_is_seeded():
    a = load_image_dataset("digits", samples_per_class=5, seed=1)
    b = load_image_dataset("digits", samples_per_class=5, seed=1)
    c = load_image_dataset("digits", samples_per_class=5, seed=2)
    assert np.bincount(a["train"]["label"]).tolist() == [5] * 10
    pix = lambda d: np.stack([np.asarray(im) for im in d["train"]["image"]])  # noqa: E731
    assert np.array_equal(pix(a), pix(b))
    assert not np.array_equal(pix(a), pix(c))


def test_imagefolder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls in ("apple", "pear"):
        (tmp_path / cls).mkdir()
        for i in range(5):
            Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    dd = load_image_dataset(str(tmp_path))
    assert class_names(dd) == ["apple", "pear"]
    assert len(dd["train"]) + len(dd["test"]) == 10


def test_one_class_image_folder_is_a_clear_error(tmp_path):
    from PIL import Image

    (tmp_path / "apple").mkdir()
    for i in range(3):
        Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "apple" / f"{i}.png")
    with pytest.raises(HfnetError, match="only the class folder 'apple'.*one sub-folder per class"):
        load_image_dataset(str(tmp_path))


def test_download_without_names_takes_all_builtins(monkeypatch, capsys):
    import hfnet.builtin_datasets as builtin
    from hfnet.commands import main

    fetched = []
    monkeypatch.setattr(builtin, "download_builtin", lambda name: fetched.append(name) or f"/src/{name}")
    monkeypatch.setattr(builtin, "load_builtin", lambda name: {"train": [0] * 2, "test": [0]})
    assert main(["download"]) == 0
    assert fetched == ["digits", "fashion_mnist", "mnist"]
    assert main(["download", "mnist"]) == 0 and fetched[-1] == "mnist"


def test_transform_feeds_any_model(digits_small, tiny_vit_classifier, tiny_timm_classifier):
    for clf in (tiny_vit_classifier, tiny_timm_classifier):
        ds = with_model_transform(digits_small["test"], clf.preprocessing)
        batch = collate_fn([ds[i] for i in range(4)])
        assert batch["pixel_values"].shape == (4, 3, 32, 32)  # grey 8x8 -> RGB 32x32
        assert batch["labels"].dtype == torch.long
        assert clf.logits(batch["pixel_values"]).shape == (4, 3)
        # normalised with the model's mean/std: background (0) maps to (0 - 0.5) / 0.5 = -1
        assert torch.isclose(batch["pixel_values"].min(), torch.tensor(-1.0))


def _dataset(**columns):
    import datasets

    return datasets.DatasetDict({"train": datasets.Dataset.from_dict(columns)})


def test_no_label_column(monkeypatch):
    import datasets
    from PIL import Image

    ds = datasets.Dataset.from_dict(
        {"img": [Image.new("RGB", (4, 4))] * 2}, features=datasets.Features({"img": datasets.Image()})
    )
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: datasets.DatasetDict({"train": ds}))
    with pytest.raises(HfnetError, match="no label column"):
        load_image_dataset("someone/images")


def test_image_column_of_wrong_type(monkeypatch):
    import datasets

    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: _dataset(text=["a", "b"], label=[0, 1]))
    with pytest.raises(HfnetError, match="not images"):
        load_image_dataset("someone/texts", image_column="text")
    with pytest.raises(HfnetError, match="no image column"):
        load_image_dataset("someone/texts")


def test_hub_dataset_offline_is_clear():
    with pytest.raises(HfnetError, match="cannot load dataset 'nobody/nothing'"):
        load_image_dataset("nobody/nothing")


def test_missing_columns_for_transform(tiny_vit_classifier):
    import datasets

    with pytest.raises(HfnetError, match="lacks column"):
        with_model_transform(datasets.Dataset.from_dict({"x": [1]}), tiny_vit_classifier.preprocessing)


def test_download_of_an_unknown_name_is_one_line(capsys):
    from hfnet.commands import main

    assert main(["download", "cifar"]) == 1
    assert "unknown built-in dataset(s) ['cifar']" in capsys.readouterr().err
