"""Real checkpoints in and out (issue 19): sharded and ``.bin`` checkpoints through one reader, timm results that
transformers loads, 1-channel models, and a push that uploads only what hfnet wrote."""

from __future__ import annotations

import json
import shutil
import tracemalloc

import pytest
import torch
from safetensors.torch import load_file

from hfnet.checkpoint import CheckpointReader, save_state_dict, weight_files
from hfnet.classifier import load_classifier
from hfnet.commands import main
from hfnet.errors import HfnetError
from hfnet.evaluation import evaluate_classifier
from hfnet.hub import push_to_hub
from hfnet.merging import merge_models
from hfnet.preprocessing import build_transform

DIGITS = [str(i) for i in range(10)]


def _vit(seed: int):
    from hfnet.zoo import tiny_vit

    return tiny_vit(DIGITS, image_size=32, patch_size=8, hidden_size=32, num_layers=2, num_heads=2, seed=seed)


@pytest.fixture(scope="module")
def vit_pair(tmp_path_factory):
    """Two tiny ViTs saved three ways: one model.safetensors, sharded safetensors + index, sharded .bin + index."""
    root = tmp_path_factory.mktemp("vit_pair")
    out = {}
    for seed in (0, 1):
        clf = _vit(seed)
        single = clf.save_pretrained(root / f"single{seed}")
        for form, safe in (("sharded", True), ("bin", False)):
            folder = root / f"{form}{seed}"
            shutil.copytree(single, folder)
            (folder / "model.safetensors").unlink()
            clf.model.save_pretrained(folder, max_shard_size="20KB", safe_serialization=safe)
        out[seed] = {"single": single, "sharded": root / f"sharded{seed}", "bin": root / f"bin{seed}"}
    return out


def test_sharded_forms_are_found_and_read_like_the_single_file(vit_pair):
    single = load_file(vit_pair[0]["single"] / "model.safetensors")
    for form in ("sharded", "bin"):
        files = weight_files(vit_pair[0][form])
        assert len(files) > 2 and all(f.parent == vit_pair[0][form] for f in files)
        with CheckpointReader(vit_pair[0][form]) as reader:
            assert sorted(reader.keys()) == sorted(single)
            for key in single:
                assert reader.shape(key) == tuple(single[key].shape)
                assert torch.equal(reader.get_tensor(key), single[key])


def test_missing_shard_is_one_clear_error(vit_pair, tmp_path):
    folder = tmp_path / "broken"
    shutil.copytree(vit_pair[0]["sharded"], folder)
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    (folder / sorted(set(index["weight_map"].values()))[-1]).unlink()
    with pytest.raises(HfnetError, match="lacks the shard"):
        load_classifier(folder)


def test_sharded_parents_are_evaluated_merged_and_pruned(vit_pair, digits_small, tmp_path):
    test = digits_small["test"]
    reference = evaluate_classifier(load_classifier(vit_pair[0]["single"]), test)
    for form in ("sharded", "bin"):
        assert evaluate_classifier(load_classifier(vit_pair[0][form]), test) == pytest.approx(reference)

    plain = merge_models([vit_pair[0]["single"], vit_pair[1]["single"]], tmp_path / "plain", weights=[1, 3])
    for form in ("sharded", "bin"):
        out = tmp_path / f"merged_{form}"
        merge_models([vit_pair[0][form], vit_pair[1][form]], out, weights=[1, 3])
        with CheckpointReader(out) as merged, CheckpointReader(tmp_path / "plain") as expected:
            for key in expected.keys():
                assert torch.equal(merged.get_tensor(key), expected.get_tensor(key))
    assert plain.num_tensors > 0

    pruned = tmp_path / "structured"
    argv = ["prune", str(vit_pair[0]["sharded"]), "--dataset", "digits", "--samples-per-class", "4"]
    argv += ["--test-samples-per-class", "2", "--calibration-samples", "8", "--calibration-batch-size", "8"]
    argv += ["--structured", "--sparsity", "0.5", "--epochs", "0", "--max-steps", "0", "--output", str(pruned)]
    assert main(argv) == 0
    assert load_classifier(pruned).model.config.intermediate_size < _vit(0).model.config.intermediate_size


def test_streaming_merge_memory_on_sharded_parents_is_as_for_single_files(vit_pair, tmp_path):
    """Python-side peak memory (the reader's buffers are bytearrays, which tracemalloc sees) of a merge of sharded
    parents stays within that of single-file parents: one tensor per parent, not whole shards or models."""
    peaks = {}
    for form in ("single", "sharded"):
        merge_models([vit_pair[0][form], vit_pair[1][form]], tmp_path / f"warm_{form}")  # imports, caches
        tracemalloc.start()
        merge_models([vit_pair[0][form], vit_pair[1][form]], tmp_path / f"m_{form}")
        peaks[form] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peaks["sharded"] <= 1.25 * peaks["single"], peaks


def test_transformers_results_are_sharded_as_transformers_does(tmp_path):
    state = {"a": torch.zeros(1000), "b": torch.ones(1000)}
    (tmp_path / "one").mkdir()
    assert save_state_dict(state, tmp_path / "one", library="transformers") == ["model.safetensors"]
    (tmp_path / "two").mkdir()
    names = save_state_dict(state, tmp_path / "two", library="transformers", max_shard_size=5000)
    assert "model.safetensors.index.json" in names and len(names) == 3
    (tmp_path / "timm").mkdir()
    assert save_state_dict(state, tmp_path / "timm", library="timm", max_shard_size=5000) == ["model.safetensors"]


# ---------------------------------------------------------------------- timm results in transformers
def test_timm_result_loads_in_automodel_and_pipeline_with_timm_logits(tiny_timm_classifier, tmp_path):
    import numpy as np
    import timm
    from PIL import Image
    from transformers import AutoModelForImageClassification, pipeline

    folder = tiny_timm_classifier.save_pretrained(tmp_path / "timm_result")
    assert "num_classes" not in json.loads((folder / "config.json").read_text()).get("model_args", {})
    x = torch.randn(2, 3, 32, 32)
    native = timm.create_model(f"local-dir:{folder}", pretrained=True).eval()
    auto = AutoModelForImageClassification.from_pretrained(folder).eval()
    with torch.no_grad():
        torch.testing.assert_close(auto(pixel_values=x).logits, native(x))
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8))
    scores = pipeline("image-classification", model=str(folder))(image, top_k=3)
    assert {s["label"] for s in scores} == set(tiny_timm_classifier.class_names)
    clf = load_classifier(folder)
    with torch.no_grad():
        ref = clf.logits(build_transform(clf.preprocessing)(image)[None]).softmax(-1)[0]
    by_label = {s["label"]: s["score"] for s in scores}
    for i, name in enumerate(tiny_timm_classifier.class_names):
        assert by_label[name] == pytest.approx(float(ref[i]), abs=1e-4)


# ---------------------------------------------------------------------- 1-channel models
@pytest.fixture(scope="module")
def grey_models(tmp_path_factory):
    import timm

    from hfnet.classifier import HubClassifier
    from hfnet.zoo import tiny_resnet

    root = tmp_path_factory.mktemp("grey")
    resnet = tiny_resnet(DIGITS, num_channels=1, embedding_size=8, hidden_sizes=(8, 16), depths=(1, 1), seed=0)
    torch.manual_seed(0)
    vit = HubClassifier.from_model(timm.create_model("test_vit", num_classes=10, img_size=32, in_chans=1), DIGITS)
    return {"resnet": resnet.save_pretrained(root / "resnet"), "timm": vit.save_pretrained(root / "timm")}


@pytest.mark.parametrize("kind", ["resnet", "timm"])
def test_one_channel_models_read_grey_pixels(grey_models, digits_small, kind):
    clf = load_classifier(grey_models[kind])
    assert clf.input_channels == 1 and clf.preprocessing.channels == 1
    assert build_transform(clf.preprocessing)(digits_small["test"][0]["image"]).shape[0] == 1
    assert evaluate_classifier(clf, digits_small["test"])["num_samples"] == 50


@pytest.mark.parametrize("kind", ["resnet", "timm"])
def test_one_channel_results_load_in_automodel_and_pipeline(grey_models, kind):
    """A 1-channel result: plain AutoModel gives hfnet's logits; pipeline() on a grey image gives hfnet's scores.

    transformers' ``load_image`` converts every PIL image to RGB and no stock processor turns RGB into grey, so a
    1-channel model takes its grey image as an ``[H, W, 1]`` array (README: 1-channel models).
    """
    import numpy as np
    from PIL import Image
    from transformers import AutoModelForImageClassification, pipeline

    clf = load_classifier(grey_models[kind])
    auto = AutoModelForImageClassification.from_pretrained(grey_models[kind]).eval()
    x = torch.randn(2, 1, 32, 32) if kind == "timm" else torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(auto(pixel_values=x).logits, clf.logits(x))
    grey = Image.fromarray(np.random.default_rng(1).integers(0, 255, (40, 40), dtype=np.uint8), mode="L")
    scores = pipeline("image-classification", model=str(grey_models[kind]))(np.asarray(grey)[..., None], top_k=10)
    pixels = build_transform(clf.preprocessing)(grey)
    assert pixels.shape[0] == 1
    with torch.no_grad():
        ref = clf.logits(pixels[None]).softmax(-1)[0]
    by_label = {s["label"]: s["score"] for s in scores}
    assert set(by_label) == set(DIGITS)
    for i, name in enumerate(DIGITS):
        assert by_label[name] == pytest.approx(float(ref[i]), abs=1e-4)


def test_one_channel_models_are_ranked_and_pruned(grey_models, tmp_path, capsys):
    argv = ["rank", "--dataset", "digits", "--candidates", grey_models["resnet"], grey_models["timm"]]
    argv = [str(a) for a in argv] + ["--num-samples", "30", "--metrics", "logme", "leep", "--no-progress"]
    argv += ["--json", str(tmp_path / "rank.json")]
    assert main(argv) == 0
    ranks = json.loads((tmp_path / "rank.json").read_text())["ranks"]["logme"]
    assert sorted(r for r in ranks.values() if r is not None) == [1, 2]
    for kind in ("resnet", "timm"):
        out = tmp_path / f"pruned_{kind}"
        argv = ["prune", str(grey_models[kind]), "--dataset", "digits", "--samples-per-class", "4"]
        argv += ["--test-samples-per-class", "2", "--calibration-samples", "8", "--calibration-batch-size", "8"]
        argv += ["--method", "magnitude", "--sparsity", "0.5", "--max-steps", "1", "--batch-size", "8"]
        assert main([*argv, "--output", str(out)]) == 0, capsys.readouterr().err
        assert load_classifier(out).input_channels == 1


# ---------------------------------------------------------------------- push: only what hfnet wrote
def test_push_uploads_only_the_manifest_files(tiny_vit_classifier, tmp_path, monkeypatch):
    import huggingface_hub
    from fakehub import FakeHfApi

    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("my own notes")
    (project / "data").mkdir()
    (project / "data" / "secret.csv").write_text("a,b")
    tiny_vit_classifier.save_pretrained(project, overwrite=True)  # `--output-dir . --overwrite` into a project
    FakeHfApi.calls = []
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeHfApi)
    push_to_hub(project, "me/tiny")
    uploaded = {op.path_in_repo for op in FakeHfApi.calls[1][2]}
    assert uploaded == {"config.json", "model.safetensors", "preprocessor_config.json", "README.md"}
    assert (project / "notes.txt").read_text() == "my own notes"


def test_merge_report_holds_no_local_path(tiny_resnet_dir, tmp_path):
    out = tmp_path / "merged"
    merge_models([tiny_resnet_dir, tiny_resnet_dir], out)
    text = (out / "hfnet_merge.json").read_text()
    assert str(tmp_path) not in text and str(tiny_resnet_dir) not in text
    assert json.loads(text)["output"] == "merged"


def _tiny_state():
    g = torch.Generator().manual_seed(0)
    return {"w": torch.randn(4, 3, generator=g), "b": torch.arange(4, dtype=torch.int64), "h": torch.randn(2).half()}


@pytest.mark.parametrize("form", ["single", "bin", "sharded", "sharded-bin"])
def test_reader_reads_every_form_exactly(tmp_path, form):
    from huggingface_hub import save_torch_state_dict

    state = _tiny_state()
    shard = 40 if form.startswith("sharded") else 2**30
    save_torch_state_dict(state, tmp_path, max_shard_size=shard, safe_serialization=not form.endswith("bin"))
    names = {p.name for p in tmp_path.iterdir()}
    expected = {
        "single": {"model.safetensors"},
        "bin": {"pytorch_model.bin"},
        "sharded": {"model.safetensors.index.json"},
        "sharded-bin": {"pytorch_model.bin.index.json"},
    }[form]
    assert expected <= names
    from hfnet.checkpoint import checkpoint_files

    assert checkpoint_files(tmp_path) == names
    files = weight_files(tmp_path)
    assert all(f.is_file() and f.parent == tmp_path and not f.name.endswith(".json") for f in files)
    assert (len(files) > 1) == form.startswith("sharded")
    with CheckpointReader(tmp_path) as reader:
        assert sorted(reader.keys()) == sorted(state)
        got = reader.state_dict()
        assert dict(reader.items()).keys() == got.keys()
    for k, v in state.items():
        assert got[k].dtype == v.dtype and torch.equal(got[k], v)


def test_reader_errors_name_the_file_and_the_fix(tmp_path):
    from hfnet.checkpoint import verify_checkpoint

    with pytest.raises(HfnetError, match=r"no weights \(model.safetensors, sharded model-\*.safetensors"):
        weight_files(tmp_path)
    (tmp_path / "model.safetensors.index.json").write_text("{not json")
    with pytest.raises(HfnetError, match="model.safetensors.index.json is not a valid checkpoint index"):
        weight_files(tmp_path)
    (tmp_path / "model.safetensors.index.json").unlink()
    (tmp_path / "model.safetensors").write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00{bad}")
    with pytest.raises(HfnetError, match=r"model.safetensors is not a valid safetensors file \(.*\); re-save"):
        verify_checkpoint(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    (tmp_path / "pytorch_model.bin").write_bytes(b"not a zip")
    with pytest.raises(HfnetError, match="pytorch_model.bin is not a readable PyTorch checkpoint"):
        verify_checkpoint(tmp_path)


def test_push_of_a_folder_hfnet_did_not_write_takes_its_files_but_hidden_ones(
    tiny_vit_classifier, tmp_path, monkeypatch
):
    import huggingface_hub
    from fakehub import FakeHfApi

    folder = tmp_path / "theirs"
    tiny_vit_classifier.model.save_pretrained(folder)  # plain transformers: no hfnet manifest
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref")
    (folder / "notes.txt").write_text("theirs")
    FakeHfApi.calls = []
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeHfApi)
    push_to_hub(folder, "me/theirs")
    uploaded = {op.path_in_repo for op in FakeHfApi.calls[1][2]}
    assert uploaded == {"config.json", "model.safetensors", "notes.txt", "README.md"}
