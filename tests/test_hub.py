"""Round trips through Hub format with the plain libraries, head replacement, bad inputs."""

from __future__ import annotations

import json

import pytest
import torch
from fakehub import FakeHfApi

from hfnet.cards import ModelCardInfo, render_model_card
from hfnet.classifier import HubClassifier, load_classifier
from hfnet.errors import HfnetError
from hfnet.hub import push_to_hub

SMALL_NAMES = ["cat", "dog", "bird"]


def _x(clf, n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    h, w = clf.preprocessing.image_size
    return torch.randn(n, 3, h, w, generator=g)


def test_transformers_round_trip_plain_library(tiny_vit_classifier, tiny_vit_dir):
    from transformers import AutoModelForImageClassification

    plain = AutoModelForImageClassification.from_pretrained(tiny_vit_dir).eval()
    x = _x(tiny_vit_classifier)
    with torch.no_grad():
        ours = tiny_vit_classifier.eval().logits(x)
        theirs = plain(pixel_values=x).logits
    assert torch.equal(ours, theirs)
    assert [plain.config.id2label[i] for i in range(3)] == SMALL_NAMES
    assert (tiny_vit_dir / "model.safetensors").is_file()
    assert json.loads((tiny_vit_dir / "preprocessor_config.json").read_text())["size"] == {"height": 32, "width": 32}


def test_timm_round_trip_plain_library(tiny_timm_classifier, tiny_timm_dir):
    import timm

    plain = timm.create_model(f"local-dir:{tiny_timm_dir}", pretrained=True).eval()
    x = _x(tiny_timm_classifier)
    with torch.no_grad():
        assert torch.equal(tiny_timm_classifier.eval().logits(x), plain(x))
    config = json.loads((tiny_timm_dir / "config.json").read_text())
    assert config["label_names"] == SMALL_NAMES
    assert config["pretrained_cfg"]["input_size"] == [3, 32, 32]


@pytest.mark.parametrize("fixture", ["tiny_vit_dir", "tiny_timm_dir"])
def test_load_classifier_restores_everything(request, fixture):
    clf = load_classifier(request.getfixturevalue(fixture))
    assert clf.class_names == SMALL_NAMES
    assert clf.num_classes == 3
    assert clf.preprocessing.image_size == (32, 32)
    x = _x(clf)
    logits, feats = clf.logits_and_features(x)
    assert logits.shape == (4, 3) and feats.shape[0] == 4 and feats.ndim == 2
    # the features are exactly what the head reads
    torch.testing.assert_close(clf.head(feats), logits)
    assert len(clf.blocks()) == (2 if fixture == "tiny_vit_dir" else len(clf.model.blocks))


@pytest.mark.parametrize("fixture", ["tiny_vit_dir", "tiny_timm_dir", "tiny_resnet_dir"])
def test_replace_head_then_save_round_trip(request, tmp_path, fixture):
    clf = load_classifier(request.getfixturevalue(fixture))
    names = ["alpha", "beta", "gamma", "delta", "eps"]
    before = {k: v.clone() for k, v in clf.model.state_dict().items() if not k.startswith(clf.head_name)}
    clf.replace_head(names)
    assert clf.num_classes == 5 and clf.class_names == names
    after = clf.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # backbone untouched
    out = clf.save_pretrained(tmp_path / "new", card=ModelCardInfo(title="t", summary="s", metrics={"accuracy": 0.5}))
    again = load_classifier(out)
    assert again.class_names == names
    x = _x(clf)
    with torch.no_grad():
        assert torch.equal(clf.eval().logits(x), again.logits(x))
    card = (out / "README.md").read_text()
    assert "library_name:" in card and "0.5000" in card


def test_placeholder_labels_are_missing(tmp_path):
    from transformers import ViTConfig, ViTForImageClassification

    model = ViTForImageClassification(
        ViTConfig(
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            image_size=16,
            patch_size=8,
            num_labels=4,
        )
    )
    clf = HubClassifier.from_model(model)
    assert clf.class_names is None  # LABEL_0..LABEL_3
    assert load_classifier(clf.save_pretrained(tmp_path / "m")).class_names is None


def test_timm_imagenet_head_gets_bundled_names():
    import timm

    clf = HubClassifier.from_model(timm.create_model("test_resnet", num_classes=1000))
    assert clf.class_names[0].startswith("tench")
    assert len(clf.class_names) == 1000


def test_folder_without_config(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(HfnetError, match="no config.json"):
        load_classifier(tmp_path)


def test_corrupted_safetensors(tmp_path, tiny_vit_dir):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(tiny_vit_dir, bad)
    data = (bad / "model.safetensors").read_bytes()
    (bad / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(HfnetError, match="corrupted or truncated"):
        load_classifier(bad)


def test_hub_id_offline_is_one_clear_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HfnetError) as info:
        load_classifier("google/vit-base-patch16-224")
    msg = str(info.value)
    assert "google/vit-base-patch16-224" in msg and "local" in msg and "\n" not in msg


def test_missing_local_path():
    with pytest.raises(HfnetError, match="no such model folder"):
        load_classifier("./does/not/exist")


def test_save_is_atomic_on_failure(tmp_path, tiny_vit_classifier, monkeypatch):
    target = tmp_path / "out"

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(type(tiny_vit_classifier.model), "save_pretrained", boom)
    with pytest.raises(RuntimeError):
        tiny_vit_classifier.save_pretrained(target)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_model_card_front_matter():
    card = render_model_card(
        ModelCardInfo(
            title="Pruned ViT",
            summary="AFR at 90%",
            base_model="google/vit-base-patch16-224",
            datasets=["uoft-cs/cifar10"],
            metrics={"accuracy": 0.9123},
            tags=["pruning"],
        ),
        library="transformers",
    )
    front = card.split("---")[1]
    for needle in (
        "base_model: google/vit-base-patch16-224",
        "library_name: transformers",
        "uoft-cs/cifar10",
        "pruning",
        "accuracy",
    ):
        assert needle in front
    assert "0.9123" in card and "AutoModelForImageClassification" in card


def test_push_uploads_folder_with_card(tmp_path, tiny_vit_dir, monkeypatch):
    import shutil

    import huggingface_hub

    folder = tmp_path / "m"
    shutil.copytree(tiny_vit_dir, folder)
    FakeHfApi.calls = []
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeHfApi)
    url = push_to_hub(folder, "me/tiny", private=True)
    assert url.endswith("/commit/abc")
    assert FakeHfApi.calls[0] == ("create_repo", "me/tiny", {"private": True, "exist_ok": True, "repo_type": "model"})
    uploaded = {op.path_in_repo for op in FakeHfApi.calls[1][2]}
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md"} <= uploaded
    assert not any(name.startswith(".hfnet") for name in uploaded)  # hfnet's manifest stays local
    assert (folder / "README.md").is_file()


def test_failed_push_keeps_local_folder(tmp_path, tiny_vit_dir, monkeypatch):
    import shutil

    import huggingface_hub

    folder = tmp_path / "m"
    shutil.copytree(tiny_vit_dir, folder)
    before = sorted(p.name for p in folder.iterdir())

    class Failing(FakeHfApi):
        def create_commit(self, repo_id, operations, **kw):
            raise ConnectionError("network unreachable")

    monkeypatch.setattr(huggingface_hub, "HfApi", Failing)
    with pytest.raises(HfnetError, match="local folder is kept"):
        push_to_hub(folder, "me/tiny")
    assert set(before) <= {p.name for p in folder.iterdir()}
    assert load_classifier(folder).class_names == SMALL_NAMES
