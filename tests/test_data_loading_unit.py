"""hfnet.data's loading rules, one at a time: per-class subsampling, column and split detection, image-folder
layouts, how a name is read (built-in, folder, Hub id), the one-line errors, and the batch helpers. Hub datasets are
faked by ``datasets.load_dataset`` returning real digits images under other column names (no network)."""

from __future__ import annotations

import io
import sys

import datasets
import numpy as np
import pytest
from PIL import Image

from hfnet import builtin_datasets, data
from hfnet.errors import HfnetError
from hfnet.preprocessing import with_model_transform

HOW = "image_column=/--image-column"


@pytest.fixture(scope="module")
def images(digits_small):
    """50 real digit images, 5 of each class in class order, and their labels."""
    train = digits_small["train"]
    labels = np.asarray(train["label"])
    rows = [int(i) for c in range(10) for i in np.flatnonzero(labels == c)[:5]]
    return [train[i]["image"] for i in rows], [int(labels[i]) for i in rows]


def _hub_split(images, labels, *, image="img", label="kind", extra=None, photo=None):
    columns = {image: list(images), label: [str(x) for x in labels]}
    features = {image: datasets.Image(), label: datasets.Value("string")}
    for name, values in (extra or {}).items():
        columns[name] = values
        features[name] = datasets.Value("string")
    if photo is not None:  # a second image column
        columns["photo"], features["photo"] = list(photo), datasets.Image()
    return datasets.Dataset.from_dict(columns, features=datasets.Features(features))


@pytest.fixture
def fake_hub(monkeypatch):
    """``datasets.load_dataset`` returning what the test puts in ``served``; the names asked for in ``asked``."""
    state = {"served": None, "asked": []}

    def load_dataset(name, *args, **kwargs):
        state["asked"].append(name)
        return state["served"]

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return state


# ---------------------------------------------------------------------- _subsample
def test_subsample_all_one_per_class_and_the_lower_bound():
    labels = np.asarray(data.load_image_dataset("digits")["test"]["label"])
    assert np.array_equal(data._subsample(labels, None, 0), np.arange(len(labels)))
    one = data._subsample(labels, 1, 0)
    assert np.bincount(labels[one]).tolist() == [1] * 10 and np.all(np.diff(one) > 0)  # in original order
    with pytest.raises(HfnetError, match=r"^samples_per_class must be >= 1, got 0$"):
        data._subsample(labels, 0, 0)


# ---------------------------------------------------------------------- columns
def test_pick_columns_error_says_where_and_how_and_finds_labels_and_coarse_label(images):
    pics, labels = images
    no_image = datasets.Dataset.from_dict({"label": labels[:2]})
    with pytest.raises(HfnetError) as e:
        data._pick_columns(no_image, None, None, "Hub dataset 'x'")
    assert str(e.value) == f"Hub dataset 'x' has no image column (columns: label); name it with {HOW}"
    for name in ("labels", "coarse_label"):
        ds = _hub_split(pics[:2], labels[:2], label=name, extra={"note": ["a", "b"]})
        assert data._pick_columns(ds, None, None, "w") == ("img", name)


def test_normalise_uses_the_named_label_column_and_says_where(images):
    pics, labels = images
    ds = _hub_split(pics[:4], labels[:4], label="label", extra={"kind": ["p", "q", "p", "q"]})
    out = data._normalise_dict(datasets.DatasetDict({"train": ds, "test": ds}), None, "kind", "w", seed=0)
    assert out["train"].features["label"].names == ["p", "q"]
    with pytest.raises(HfnetError, match=r"^Hub dataset 'x' has no column 'nope'"):
        data._normalise_dict(datasets.DatasetDict({"train": ds}), None, "nope", "Hub dataset 'x'", seed=0)


# ---------------------------------------------------------------------- image folders
def _folder(root, *classes, n=1):
    for cls in classes:
        (root / cls).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(np.full((8, 8), 40 * i, dtype=np.uint8)).save(root / cls / f"{i}.png")
    return root


def _one_class_message(path, found):
    return (
        f"image folder {path} has {found}; an image classification folder needs one sub-folder per class "
        "(at least two), e.g. DIR/cat/*.png and DIR/dog/*.png"
    )


def test_class_folders_ignore_files_and_hidden_folders(tmp_path):
    root = _folder(tmp_path, "apple", ".ipynb_checkpoints")
    (root / "notes.txt").write_text("not a class")
    with pytest.raises(HfnetError) as e:
        data._check_class_folders(root)
    assert str(e.value) == _one_class_message(root, "only the class folder 'apple'")


def test_an_empty_folder_has_no_class_sub_folders(tmp_path):
    with pytest.raises(HfnetError) as e:
        data._check_class_folders(tmp_path)
    assert str(e.value) == _one_class_message(tmp_path, "no class sub-folders")


@pytest.mark.parametrize("split", ["train", "test", "validation", "valid", "val"])
def test_a_split_folder_is_looked_into_for_its_classes(tmp_path, split):
    root = _folder(tmp_path, f"{split}/apple")
    with pytest.raises(HfnetError, match="only the class folder 'apple'"):
        data._check_class_folders(root)
    _folder(tmp_path, f"{split}/pear")
    data._check_class_folders(root)  # two classes one level down


def test_every_split_folder_at_once_is_still_one_class(tmp_path):
    root = _folder(tmp_path, *(f"{s}/apple" for s in ("train", "test", "validation", "valid", "val")))
    with pytest.raises(HfnetError, match="only the class folder 'apple'"):
        data._check_class_folders(root)


def test_folder_errors_name_the_image_folder(tmp_path):
    root = _folder(tmp_path, "apple", "pear", n=3)
    with pytest.raises(HfnetError, match=r"^image folder .* has no column 'nope' \(columns: image, label\)$"):
        data.load_image_dataset(str(root), label_column="nope")


# ---------------------------------------------------------------------- how a name is read
@pytest.mark.parametrize("name", ["./no_such_hfnet_dir", "/no_such_hfnet_dir", "~/no_such_hfnet_dir", "a/b/c"])
def test_a_path_that_is_not_there_is_no_such_folder_never_a_hub_lookup(fake_hub, name):
    with pytest.raises(HfnetError, match=r"^no such dataset folder: "):
        data.load_image_dataset(name)
    assert fake_hub["asked"] == []


def test_a_hub_id_is_loaded_by_its_name_and_named_in_errors(fake_hub, images):
    pics, labels = images
    fake_hub["served"] = datasets.DatasetDict({"train": _hub_split(pics, labels, label="nothing_known")})
    with pytest.raises(HfnetError) as e:
        data.load_image_dataset("someone/digits")
    assert fake_hub["asked"] == ["someone/digits"]
    assert str(e.value).startswith("Hub dataset 'someone/digits' has no label column")


def test_a_single_dataset_is_the_train_split_and_the_test_split_is_carved_with_the_seed(fake_hub, images):
    pics, labels = images
    fake_hub["served"] = _hub_split(pics, labels, extra={"label": ["x"] * len(pics)})
    dd = data.load_image_dataset("someone/digits", label_column="kind", seed=3)
    assert dd["train"].features["label"].names == [str(i) for i in range(10)]  # the named column, not "label"
    expected = data._normalise_dict(datasets.DatasetDict({"train": fake_hub["served"]}), None, "kind", "w", 3)
    pixels = lambda ds: [np.asarray(x["image"]).tobytes() for x in ds]  # noqa: E731
    assert len(dd["test"]) == 10 and pixels(dd["test"]) == pixels(expected["test"])
    split = data.load_image_split("someone/digits")
    assert split.column_names == ["image"] and len(split) == len(pics)


def _failing_hub(monkeypatch, exc):
    def load_dataset(*args, **kwargs):
        raise exc

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)


def _cannot_load(name, hint):
    return (
        f"cannot load dataset '{name}' ({hint}). Use a built-in ({', '.join(builtin_datasets.BUILTIN_DATASETS)}), "
        "a local imagefolder (one sub-folder per class), or download the Hub dataset while online."
    )


@pytest.mark.parametrize(
    "message, shown",
    [("first line\nsecond", "first line"), ("", ""), ("x" * 300, "x" * 160)],
)
def test_online_load_failure_shows_the_first_line_of_the_error(monkeypatch, message, shown):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    _failing_hub(monkeypatch, ValueError(message))
    with pytest.raises(HfnetError) as e:
        data.load_image_dataset("someone/broken")
    assert str(e.value) == _cannot_load("someone/broken", f"ValueError: {shown}")


@pytest.mark.parametrize("hub_offline, datasets_offline", [(True, None), (False, "1")])
def test_offline_load_failure_says_it_is_not_cached(monkeypatch, hub_offline, datasets_offline):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", hub_offline)
    if datasets_offline is None:
        monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    else:
        monkeypatch.setenv("HF_DATASETS_OFFLINE", datasets_offline)
    _failing_hub(monkeypatch, ValueError("not reached"))
    with pytest.raises(HfnetError) as e:
        data.load_image_dataset("someone/broken")
    assert str(e.value) == _cannot_load("someone/broken", "HF_HUB_OFFLINE=1 and it is not cached")


def test_builtin_names_are_spelled_loosely_but_a_folder_wins(tmp_path):
    assert data._builtin_key("Fashion-MNIST") == "fashion_mnist"
    assert data._builtin_key("someone/mnist") is None
    folder = tmp_path / "digits"
    folder.mkdir()
    assert data._builtin_key(str(folder)) is None


def test_a_builtin_without_local_files_warns_and_falls_back_to_its_hub_copy(monkeypatch, fake_hub, images, caplog):
    pics, labels = images
    monkeypatch.setattr(builtin_datasets, "load_builtin", lambda name: None)
    fake_hub["served"] = datasets.DatasetDict({"train": _hub_split(pics, labels, image="image", label="label")})
    with caplog.at_level("WARNING", logger="hfnet.data"):
        split = data.load_image_split("mnist")
        dd = data.load_image_dataset("mnist")
    hub = builtin_datasets.hub_id("mnist")
    assert fake_hub["asked"] == [hub, hub]
    assert len(split) == len(pics) and len(dd["train"]) + len(dd["test"]) == len(pics)
    warning = f"no local mnist files; loading the Hub copy {hub} (for the offline files: "
    shown = [r.getMessage() for r in caplog.records if r.name == "hfnet.data"]
    assert shown == [warning + builtin_datasets.install_hint("mnist") + ")"] * 2


# ---------------------------------------------------------------------- load_image_split
def test_image_split_defaults_to_train_and_names_the_builtin_in_errors(digits):
    assert len(data.load_image_split("digits")) == len(digits["train"])
    with pytest.raises(HfnetError) as e:
        data.load_image_split("digits", "validation")
    assert (
        str(e.value) == "built-in dataset 'digits' has no split 'validation' (splits: train, test); pick one of them"
    )


def test_image_split_takes_the_named_image_column_and_renames_it(fake_hub, images):
    pics, labels = images
    two = _hub_split(pics[:3], labels[:3], photo=reversed(pics[:3]))
    fake_hub["served"] = datasets.DatasetDict({"train": two})
    ds = data.load_image_split("someone/pics", image_column="photo")
    assert ds.column_names == ["image"]
    assert [np.asarray(x["image"]).tobytes() for x in ds] == [np.asarray(p).tobytes() for p in reversed(pics[:3])]
    with pytest.raises(HfnetError) as e:
        data.load_image_split("someone/pics", image_column="nope")
    assert str(e.value) == (
        "Hub dataset 'someone/pics' has no column 'nope' (columns: img, kind, photo); name it with the image column "
        "option"
    )


def test_image_split_of_one_image_loads_and_an_empty_one_is_refused(fake_hub, images):
    pics, labels = images
    fake_hub["served"] = datasets.DatasetDict({"train": _hub_split(pics[:1], labels[:1])})
    assert len(data.load_image_split("someone/one")) == 1
    fake_hub["served"] = datasets.DatasetDict({"train": _hub_split([], [])})
    with pytest.raises(HfnetError) as e:
        data.load_image_split("someone/none")
    assert str(e.value) == "the train split of Hub dataset 'someone/none' is empty"


# ---------------------------------------------------------------------- load_image_dataset
def test_dataset_seed_defaults_to_zero():
    pixels = lambda dd: [np.asarray(x["image"]).tobytes() for x in dd["train"]]  # noqa: E731
    default = data.load_image_dataset("digits", samples_per_class=2)
    assert pixels(default) == pixels(data.load_image_dataset("digits", samples_per_class=2, seed=0))
    assert pixels(default) != pixels(data.load_image_dataset("digits", samples_per_class=2, seed=1))


def test_dataset_split_of_one_image_loads_and_an_empty_one_is_refused(fake_hub, images):
    pics, labels = images
    one = datasets.DatasetDict(
        {
            "train": _hub_split(pics[:3], labels[:3], label="label"),
            "test": _hub_split(pics[3:4], labels[3:4], label="label"),
        }
    )
    fake_hub["served"] = one
    assert len(data.load_image_dataset("someone/one")["test"]) == 1
    fake_hub["served"] = datasets.DatasetDict({"train": one["train"], "test": one["test"].select([])})
    with pytest.raises(HfnetError) as e:
        data.load_image_dataset("someone/none")
    assert str(e.value) == "the test split of 'someone/none' is empty"


def test_class_names_of_a_split_and_of_a_dataset_without_class_labels(digits):
    assert data.class_names(digits["test"]) == [str(i) for i in range(10)]
    with pytest.raises(HfnetError) as e:
        data.class_names(digits["test"].cast_column("label", datasets.Value("int64")))
    assert str(e.value) == "the dataset has no ClassLabel 'label' column; load it with hfnet.load_image_dataset"


# ---------------------------------------------------------------------- batch helpers
def test_is_transformed_on_empty_and_one_row_datasets(digits_small, tiny_vit_classifier):
    one = digits_small["test"].select([0])
    assert data.is_transformed(one.select([])) is False
    assert data.is_transformed(one) is False
    assert data.is_transformed(with_model_transform(one, tiny_vit_classifier.preprocessing)) is True


def test_ensure_transformed_evaluates_by_default_augments_when_asked_and_keeps_a_transform(
    digits_small, tiny_vit_classifier
):
    import torch

    pre = tiny_vit_classifier.preprocessing
    raw = digits_small["test"].select(range(4))
    assert data.ensure_transformed(None, pre) is None
    done = with_model_transform(raw, pre)
    assert data.ensure_transformed(done, pre) is done
    evaluated = torch.stack([x["pixel_values"] for x in done])
    default = torch.stack([x["pixel_values"] for x in data.ensure_transformed(raw, pre)])
    assert torch.equal(default, evaluated)
    torch.manual_seed(0)
    augmented = torch.stack([x["pixel_values"] for x in data.ensure_transformed(raw, pre, train=True)])
    assert augmented.shape == evaluated.shape and not torch.allclose(augmented, evaluated)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_model_batches_keep_order_and_size_and_show_a_bar_only_when_asked(
    digits_small, tiny_vit_classifier, monkeypatch
):
    monkeypatch.setattr(sys, "stderr", _Terminal())  # tqdm would hide a bar left to decide on a captured stream
    pre = tiny_vit_classifier.preprocessing
    test = digits_small["test"]
    quiet = data.model_batches(test, pre, 16)
    assert quiet.disable is True
    batches = list(quiet)
    assert [len(b["labels"]) for b in batches] == [16, 16, 16, 2]
    assert [int(x) for b in batches for x in b["labels"]] == list(test["label"])  # in order, not shuffled
    shown = data.model_batches(test, pre, 16, progress=True, desc="features")
    try:
        assert (shown.disable, shown.desc, shown.unit, shown.leave) == (False, "features", "batch", False)
    finally:
        shown.close()
