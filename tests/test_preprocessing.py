"""Pixels come from the model's own processor: fake Hub repos (offline cache) with real non-square images."""

from __future__ import annotations

import json
import logging

import pytest
import torch
from fakehub import NAMES, TIMM_VIT, VIT_BIT, VIT_DEIT, image_dataset, real_images

from hfnet.classifier import load_classifier
from hfnet.preprocessing import build_transform


def _processor_pixels(repo_or_folder: str, image) -> torch.Tensor:
    from transformers import AutoImageProcessor

    processor = AutoImageProcessor.from_pretrained(repo_or_folder)
    return processor(images=image.convert("RGB"), return_tensors="pt")["pixel_values"][0]


def _timm_pixels(ref: str, image) -> torch.Tensor:
    import timm
    from timm.data import create_transform, resolve_data_config

    model = timm.create_model(ref, pretrained=True)
    return create_transform(**resolve_data_config({}, model=model))(image.convert("RGB"))


@pytest.mark.parametrize("repo", [VIT_BIT, VIT_DEIT])
def test_transformers_pixels_are_the_processors(fake_hub, repo):
    clf = load_classifier(repo)
    assert clf.hub_id == repo and clf.source == repo
    transform = build_transform(clf.preprocessing)
    for image in real_images():
        ours = transform(image)
        theirs = _processor_pixels(repo, image)
        assert ours.shape == theirs.shape == (3, 32, 32)
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    assert clf.preprocessing.image_size == (32, 32)
    assert clf.preprocessing.interpolation == "bicubic"
    assert clf.preprocessing.mean == pytest.approx((0.485, 0.456, 0.406))


def test_bit_processor_is_not_a_squash_resize(fake_hub):
    """The shortest-edge resize + crop differs from the old guess (squash to 32x32): the test above can fail."""
    from torchvision.transforms import v2

    clf = load_classifier(VIT_BIT)
    image = real_images()[1]  # 150 x 100, far from square
    squash = v2.Compose(
        [v2.ToImage(), v2.Resize((32, 32), antialias=True), v2.ToDtype(torch.float32, scale=True)]
        + [v2.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])]
    )(image)
    assert (build_transform(clf.preprocessing)(image) - squash).abs().max() > 0.1


def test_timm_pixels_are_timms(fake_hub):
    clf = load_classifier(TIMM_VIT)
    assert clf.library == "timm" and clf.hub_id == TIMM_VIT
    assert clf.preprocessing.crop_pct == pytest.approx(0.8)
    transform = build_transform(clf.preprocessing)
    for image in real_images():
        torch.testing.assert_close(transform(image), _timm_pixels(f"hf-hub:{TIMM_VIT}", image), atol=1e-5, rtol=0)


@pytest.mark.parametrize("repo", [VIT_BIT, VIT_DEIT])
def test_saved_checkpoint_ships_the_same_processor(fake_hub, tmp_path, repo):
    clf = load_classifier(repo)
    out = clf.save_pretrained(tmp_path / "saved")
    saved = json.loads((out / "preprocessor_config.json").read_text())
    source = json.loads((fake_hub[repo] / "preprocessor_config.json").read_text())
    assert saved["image_processor_type"] == source["image_processor_type"]
    assert saved["size"] == source["size"] and saved["crop_size"] == source["crop_size"]
    assert saved["resample"] == source["resample"] == 3
    for image in real_images():
        torch.testing.assert_close(
            _processor_pixels(str(out), image), _processor_pixels(repo, image), atol=1e-5, rtol=0
        )
    # and hfnet reloads it with the same pixels
    again = load_classifier(out)
    image = real_images()[2]
    torch.testing.assert_close(build_transform(again.preprocessing)(image), _processor_pixels(repo, image))


def test_saved_timm_checkpoint_keeps_its_data_config(fake_hub, tmp_path):
    clf = load_classifier(TIMM_VIT)
    out = clf.save_pretrained(tmp_path / "saved")
    for image in real_images():
        torch.testing.assert_close(
            _timm_pixels(f"local-dir:{out}", image), _timm_pixels(f"hf-hub:{TIMM_VIT}", image), atol=1e-5, rtol=0
        )


def test_changed_input_size_changes_only_that(fake_hub, tmp_path):
    from hfnet.preprocessing import Preprocessing

    clf = load_classifier(VIT_BIT)
    pre = clf.preprocessing
    clf.preprocessing = Preprocessing((48, 48), pre.mean, pre.std, pre.interpolation, 1.0)
    out = clf.save_pretrained(tmp_path / "saved")
    saved = json.loads((out / "preprocessor_config.json").read_text())
    assert saved["image_processor_type"] == "BitImageProcessor"
    assert saved["size"] == {"height": 48, "width": 48} and saved["do_center_crop"] is False
    assert saved["resample"] == 3 and saved["image_mean"] == pytest.approx([0.485, 0.456, 0.406])
    image = real_images()[0]
    torch.testing.assert_close(build_transform(clf.preprocessing)(image), _processor_pixels(str(out), image))


def test_pipeline_on_saved_folder_gives_evaluate_accuracy(fake_hub, tmp_path):
    from transformers import pipeline

    from hfnet.evaluation import evaluate_classifier, predict

    clf = load_classifier(VIT_BIT)
    out = clf.save_pretrained(tmp_path / "saved")
    dataset = image_dataset()
    ours = evaluate_classifier(clf, dataset, progress=False)
    logits, labels = predict(clf, dataset, progress=False)
    classify = pipeline("image-classification", model=str(out), device="cpu")
    predicted = [classify(example["image"].convert("RGB"), top_k=1)[0]["label"] for example in dataset]
    predicted_ids = [NAMES.index(p) for p in predicted]
    assert predicted_ids == logits.argmax(1).tolist()
    assert sum(p == y for p, y in zip(predicted_ids, labels.tolist())) / len(dataset) == ours["accuracy"]


def test_no_processor_falls_back_with_a_warning(tmp_path, caplog):
    from fakehub import _tiny_vit

    folder = tmp_path / "bare"
    _tiny_vit().save_pretrained(folder)  # config + weights, no preprocessor_config.json
    with caplog.at_level(logging.WARNING):
        clf = load_classifier(folder)
    assert any("no usable image processor" in r.getMessage() for r in caplog.records)
    assert clf.preprocessing.image_size == (32, 32)
    assert clf.preprocessing.mean == (0.485, 0.456, 0.406)
    # what hfnet computes is what the processor it saves computes
    out = clf.save_pretrained(tmp_path / "saved")
    image = real_images()[3]
    torch.testing.assert_close(build_transform(clf.preprocessing)(image), _processor_pixels(str(out), image))
