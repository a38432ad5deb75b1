"""How hfnet.data reads a Hub or folder dataset's columns and splits: the image and label columns found (or named),
renamed to ``image`` / ``label``, string labels encoded, a test split found or carved, and clear errors."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
from PIL import Image

from hfnet import data
from hfnet.errors import HfnetError


def _images(n: int) -> list[Image.Image]:
    return [Image.fromarray(np.full((4, 4), 10 * i, dtype=np.uint8)) for i in range(n)]


def _split(n: int, labels, *, image_name="img", label_name="fine_label", label_feature=None, extra=True):
    columns = {image_name: _images(n), label_name: labels}
    features = {image_name: datasets.Image(), label_name: label_feature or datasets.Value("string")}
    if extra:
        columns["note"] = ["x"] * n
        features["note"] = datasets.Value("string")
    return datasets.Dataset.from_dict(columns, features=datasets.Features(features))


def test_image_column_is_found_or_named_and_bad_names_say_what_exists():
    features = _split(2, ["a", "b"]).features
    assert data._image_column(features, None, "here", "HOW") == "img"
    assert data._image_column(features, "img", "here", "HOW") == "img"
    with pytest.raises(HfnetError) as e:
        data._image_column(features, "picture", "Hub dataset 'x'", "--image-column")
    assert str(e.value) == (
        "Hub dataset 'x' has no column 'picture' (columns: img, fine_label, note); name it with --image-column"
    )
    with pytest.raises(
        HfnetError, match=r"column 'note' of here holds Value, not images; name the image column with H"
    ):
        data._image_column(features, "note", "here", "H")
    no_images = datasets.Features({"a": datasets.Value("int64"), "b": datasets.Value("string")})
    with pytest.raises(HfnetError, match=r"^here has no image column \(columns: a, b\); name it with HOW$"):
        data._image_column(no_images, None, "here", "HOW")


def test_label_column_prefers_a_class_label_then_the_usual_names():
    plain = _split(2, ["a", "b"])
    assert data._pick_columns(plain, None, None, "w") == ("img", "fine_label")
    both = plain.add_column("label", ["c", "d"])
    assert data._pick_columns(both, None, None, "w") == ("img", "label")  # "label" before "fine_label"
    encoded = _split(2, [0, 1], label_name="kind", label_feature=datasets.ClassLabel(names=["a", "b"]))
    assert data._pick_columns(encoded.add_column("label", ["c", "d"]), None, None, "w") == ("img", "kind")
    assert data._pick_columns(both, None, "fine_label", "w") == ("img", "fine_label")
    with pytest.raises(HfnetError, match=r"^w has no column 'cls' \(columns: img, fine_label, note\)$"):
        data._pick_columns(plain, None, "cls", "w")
    unlabelled = plain.remove_columns("fine_label")
    with pytest.raises(HfnetError, match=r"^w has no label column \(columns: img, note\); name it with label_col"):
        data._pick_columns(unlabelled, None, None, "w")


def test_normalise_keeps_two_columns_encodes_string_labels_and_maps_validation_to_test():
    dd = datasets.DatasetDict(
        {"train": _split(4, ["cat", "dog", "cat", "dog"]), "validation": _split(2, ["dog", "cat"])}
    )
    out = data._normalise_dict(dd, None, None, "w", seed=0)
    assert list(out) == ["train", "test"]
    for split in out.values():
        assert list(split.features) == ["image", "label"]
        assert isinstance(split.features["label"], datasets.ClassLabel)
        assert split.features["label"].names == ["cat", "dog"]
    assert out["train"]["label"] == [0, 1, 0, 1] and out["test"]["label"] == [1, 0]
    assert np.asarray(out["test"][0]["image"]).max() == 0  # the validation rows, in order, as the test split


def test_normalise_keeps_class_labels_and_a_real_test_split_over_validation():
    label = datasets.ClassLabel(names=["zero", "one"])
    dd = datasets.DatasetDict(
        {
            "train": _split(2, [1, 0], image_name="image", label_name="label", label_feature=label, extra=False),
            "validation": _split(1, [0], image_name="image", label_name="label", label_feature=label, extra=False),
            "test": _split(3, [0, 1, 1], image_name="image", label_name="label", label_feature=label, extra=False),
        }
    )
    out = data._normalise_dict(dd, None, None, "w", seed=0)
    assert out["train"].features["label"].names == ["zero", "one"] and out["train"]["label"] == [1, 0]
    assert len(out["test"]) == 3 and out["test"]["label"] == [0, 1, 1]


def test_normalise_carves_a_stratified_seeded_test_split_when_there_is_none():
    labels = ["a"] * 10 + ["b"] * 10
    dd = datasets.DatasetDict({"train": _split(20, labels)})
    out = data._normalise_dict(dd, None, None, "w", seed=3)
    assert len(out["train"]) == 16 and len(out["test"]) == 4
    assert sorted(out["test"]["label"]) == [0, 0, 1, 1]  # stratified
    again = data._normalise_dict(dd, None, None, "w", seed=3)
    assert [np.asarray(x["image"]).max() for x in again["test"]] == [np.asarray(x["image"]).max() for x in out["test"]]
    other = data._normalise_dict(dd, None, None, "w", seed=4)
    assert [np.asarray(x["image"]).max() for x in other["test"]] != [np.asarray(x["image"]).max() for x in out["test"]]
