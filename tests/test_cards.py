"""Every card hfnet writes (prune, merge, distill, demo zoo) is one the Hub can read, and push fills in the repo id."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from fakehub import LICENSE, VIT_BIT, VIT_DEIT, FakeHfApi, image_dataset

from hfnet.classifier import load_classifier
from hfnet.errors import HfnetError

_ABSOLUTE = re.compile(r"(?<![\w.:])/(tmp|home|root|work|usr|var|private|Users)/")
_HUB_DATASETS = {"ylecun/mnist", "zalando-datasets/fashion_mnist", "ILSVRC/imagenet-1k"}


def check_card(folder: Path, accuracy: float, *, base_model=None, relation=None, license=None) -> str:
    """The card parses with huggingface_hub, its model-index holds ``accuracy``, and it names no local path."""
    from huggingface_hub import ModelCard, metadata_load

    path = Path(folder) / "README.md"
    text = path.read_text()
    meta = metadata_load(path)
    card = ModelCard.load(path)
    results = card.data.eval_results
    assert results, "no model-index"
    top1 = [r for r in results if r.metric_type == "accuracy" and r.metric_name == "Top-1 accuracy"]
    assert len(top1) == 1 and top1[0].metric_value == pytest.approx(accuracy, abs=1e-6)
    assert top1[0].task_type == "image-classification" and top1[0].dataset_split
    assert meta["model-index"][0]["results"]
    assert set(meta.get("metrics", [])) <= {"accuracy"}  # no loss / sparsity / parameters
    assert set(meta.get("datasets", [])) <= _HUB_DATASETS
    assert meta.get("base_model") == base_model
    assert meta.get("base_model_relation") == relation
    assert meta.get("license") == license
    assert "REPO_ID" not in text
    assert not _ABSOLUTE.search(text), _ABSOLUTE.search(text)
    assert f"./{Path(folder).name}" in text  # the usage snippet names the folder until a push
    for lib in ("hfnet", "torch", "transformers", "timm"):
        assert f"{lib} " in text.split("Framework versions:")[1]
    return text


def test_prune_card_from_hub_parent(fake_hub, tmp_path, digits_small):
    from hfnet.pruning.config import PruningConfig
    from hfnet.pruning.pipeline import run_pruning

    clf = load_classifier(VIT_BIT)
    config = PruningConfig(method="magnitude", sparsity=0.5, calibration_samples=32, calibration_batch_size=32)
    command = f"hfnet prune {VIT_BIT} --dataset digits --method magnitude --output {tmp_path / 'pruned'}"
    summary = run_pruning(
        clf, digits_small, config, None, save_dir=tmp_path / "pruned", dataset_name="digits", command=command
    )
    text = check_card(
        tmp_path / "pruned", summary["accuracy"], base_model=VIT_BIT, relation="finetune", license=LICENSE
    )
    assert "hfnet prune acme/vit-bit --dataset digits --method magnitude --output ./pruned" in text
    assert "[acme/vit-bit](https://huggingface.co/acme/vit-bit)" in text
    assert '"method": "magnitude"' in text  # the config that reproduces it


def test_local_folder_that_looks_like_a_hub_id_is_no_base_model(tmp_path, monkeypatch, tiny_vit_dir, digits_small):
    from hfnet.pruning.config import PruningConfig
    from hfnet.pruning.pipeline import run_pruning

    monkeypatch.chdir(tmp_path)
    shutil.copytree(tiny_vit_dir, tmp_path / "acme" / "vit-local")
    clf = load_classifier("acme/vit-local")
    assert clf.hub_id is None
    config = PruningConfig(method="magnitude", sparsity=0.5, calibration_samples=32, calibration_batch_size=32)
    summary = run_pruning(clf, digits_small, config, None, save_dir="out", dataset_name="digits")
    text = check_card(tmp_path / "out", summary["accuracy"])
    assert "`vit-local` (local folder)" in text


def test_merge_card_from_hub_parents_with_measured_accuracy(fake_hub, tmp_path):
    from hfnet.merging.merge import merge_models

    dataset = image_dataset()
    report = merge_models(
        [VIT_BIT, VIT_DEIT], tmp_path / "merged", method="average", eval_dataset=dataset, dataset_name="photos"
    )
    assert 0.0 <= report.metrics["accuracy"] <= 1.0
    text = check_card(
        tmp_path / "merged",
        report.metrics["accuracy"],
        base_model=[VIT_BIT, VIT_DEIT],
        relation="merge",
        license=LICENSE,
    )
    assert "No results were measured" not in text
    assert "[acme/vit-deit](https://huggingface.co/acme/vit-deit)" in text


def test_merge_card_of_local_parents(tmp_path, tiny_resnet_dir, digits_small):
    from hfnet.merging.merge import merge_models

    other = tmp_path / "parent_b"
    shutil.copytree(tiny_resnet_dir, other)
    report = merge_models(
        [tiny_resnet_dir, other],
        tmp_path / "merged",
        head_from=1,
        eval_dataset=digits_small["test"],
        dataset_name="digits",
    )
    # neither the report (hfnet_merge.json) nor the card holds a local path (issue 19): parents by folder name
    assert report.head_policy == "taken from parent_b"
    text = check_card(tmp_path / "merged", report.metrics["accuracy"])
    assert "`parent_b` (local folder)" in text and "| classifier head | taken from parent_b (2 tensors) |" in text


def test_distill_card_names_teacher_and_student(fake_hub, tmp_path):
    from hfnet.distillation.chain import distill_chain
    from hfnet.distillation.config import DistillationConfig

    teacher, student = load_classifier(VIT_BIT), load_classifier(VIT_DEIT)
    dataset = image_dataset()
    args = DistillationConfig(
        output_dir=str(tmp_path / "work"), max_steps=1, per_device_train_batch_size=4, report_to="none", use_cpu=True
    )
    results = distill_chain([teacher, student], dataset, args, eval_dataset=dataset, output_dir=tmp_path / "out")
    text = check_card(
        tmp_path / "out" / "student",
        results[-1].metrics["accuracy"],
        base_model=VIT_DEIT,
        relation="finetune",
        license=LICENSE,
    )
    assert "| teacher | [acme/vit-bit](https://huggingface.co/acme/vit-bit) |" in text
    assert "student initialised from | [acme/vit-deit]" in text


def test_distill_card_local_teacher(tmp_path, tiny_resnet_dir, digits_small):
    from hfnet.distillation.chain import distill_chain
    from hfnet.distillation.config import DistillationConfig
    from hfnet.zoo import tiny_resnet

    teacher = load_classifier(tiny_resnet_dir)
    student = tiny_resnet([str(i) for i in range(10)], image_size=16, embedding_size=8, hidden_sizes=(8, 8), seed=1)
    args = DistillationConfig(
        output_dir=str(tmp_path / "work"), max_steps=1, per_device_train_batch_size=16, report_to="none", use_cpu=True
    )
    results = distill_chain(
        [teacher, student],
        digits_small["train"],
        args,
        eval_dataset=digits_small["test"],
        output_dir=tmp_path / "out",
        dataset_name="digits",
    )
    text = check_card(tmp_path / "out" / "student", results[-1].metrics["accuracy"])
    assert "| teacher | `model` (local folder) |" in text
    # a count is an integer in the card (issue 19: not `parameters 21162.0000`)
    assert re.search(r"\| parameters \| \d+ \|", text) and not re.search(r"parameters \| \d+\.\d", text)


def test_demo_zoo_card(tmp_path, digits_small):
    from hfnet.demo import DemoContext, _train_zoo_model
    from hfnet.zoo import tiny_resnet

    ctx = DemoContext(output_dir=tmp_path / "demo")
    clf = tiny_resnet([str(i) for i in range(10)], image_size=16, embedding_size=8, hidden_sizes=(8, 8))
    row = _train_zoo_model("digits_resnet", clf, digits_small, ctx, 1, 2e-3, "digits")
    text = check_card(ctx.zoo["digits_resnet"], row["accuracy"])
    assert "scikit-learn digits" in text


def test_fashion_card_lists_the_hub_dataset(tmp_path, tiny_vit_classifier):
    from huggingface_hub import metadata_load

    from hfnet.cards import ModelCardInfo

    info = ModelCardInfo(
        title="t",
        summary="s",
        datasets=["fashion_mnist"],
        metrics={"accuracy": 0.8, "loss": 0.5},
        eval_dataset="fashion_mnist",
    )
    out = tiny_vit_classifier.save_pretrained(tmp_path / "m", card=info)
    meta = metadata_load(out / "README.md")
    assert meta["datasets"] == ["zalando-datasets/fashion_mnist"]
    assert meta["model-index"][0]["results"][0]["dataset"]["type"] == "zalando-datasets/fashion_mnist"


def test_plots_are_embedded(tmp_path, tiny_vit_classifier):
    from hfnet.cards import ModelCardInfo

    plot = tmp_path / "accuracy.png"
    plot.write_bytes(b"\x89PNG\r\n\x1a\n")
    out = tiny_vit_classifier.save_pretrained(tmp_path / "m", card=ModelCardInfo(title="t", summary="s", plots=[plot]))
    assert (out / "accuracy.png").read_bytes() == plot.read_bytes()
    assert "![accuracy.png](accuracy.png)" in (out / "README.md").read_text()


# ---------------------------------------------------------------------- push


def test_classifier_push_to_hub_fills_in_repo_id(tmp_path, tiny_vit_classifier, monkeypatch):
    import huggingface_hub

    from hfnet.cards import ModelCardInfo

    FakeHfApi.calls = []
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeHfApi)
    url = tiny_vit_classifier.push_to_hub(
        "me/tiny-vit", card=ModelCardInfo(title="t", summary="s", metrics={"accuracy": 0.5}), private=True
    )
    assert url.endswith("/commit/abc")
    assert FakeHfApi.calls[0] == (
        "create_repo",
        "me/tiny-vit",
        {"private": True, "exist_ok": True, "repo_type": "model"},
    )
    ops = {op.path_in_repo: op for op in FakeHfApi.calls[1][2]}
    readme = ops["README.md"].path_or_fileobj
    readme = readme.read().decode() if hasattr(readme, "read") else bytes(readme).decode()
    assert 'from_pretrained("me/tiny-vit")' in readme and "./tiny-vit" not in readme
    assert {"config.json", "model.safetensors", "preprocessor_config.json"} <= set(ops)


def test_run_pruning_push_failure_keeps_local_result(tmp_path, tiny_resnet_dir, digits_small, monkeypatch):
    import huggingface_hub

    from hfnet.pruning.config import PruningConfig
    from hfnet.pruning.pipeline import run_pruning

    class Failing(FakeHfApi):
        def create_commit(self, repo_id, operations, **kw):
            raise ConnectionError("network unreachable")

    monkeypatch.setattr(huggingface_hub, "HfApi", Failing)
    config = PruningConfig(method="magnitude", sparsity=0.5, calibration_samples=32, calibration_batch_size=32)
    with pytest.raises(HfnetError) as info:
        run_pruning(
            load_classifier(tiny_resnet_dir),
            digits_small,
            config,
            None,
            save_dir=tmp_path / "pruned",
            dataset_name="digits",
            push_to_hub=True,
            hub_model_id="me/pruned",
        )
    assert "network unreachable" in str(info.value) and "kept" in str(info.value) and "\n" not in str(info.value)
    assert load_classifier(tmp_path / "pruned").num_classes == 10
    assert "./pruned" in (tmp_path / "pruned" / "README.md").read_text()  # unchanged by the failed push


def test_push_needs_a_repo_id(tmp_path, tiny_resnet_dir, digits_small):
    from hfnet.pruning.config import PruningConfig
    from hfnet.pruning.pipeline import run_pruning

    config = PruningConfig(method="magnitude", sparsity=0.5, calibration_samples=32, calibration_batch_size=32)
    with pytest.raises(HfnetError, match="hub.model.id"):
        run_pruning(
            load_classifier(tiny_resnet_dir),
            digits_small,
            config,
            None,
            save_dir=tmp_path / "p",
            dataset_name="digits",
            push_to_hub=True,
        )
    assert not (tmp_path / "p").exists()


def test_local_stage_is_never_linked_as_a_hub_repo():
    from hfnet.cards import ModelCardInfo, display_name, render_model_card

    assert display_name("assistant_1") == "`assistant_1`"
    assert display_name("acme/vit") == "[acme/vit](https://huggingface.co/acme/vit)"
    info = ModelCardInfo(title="t", summary="s", parents=[("teacher", "acme/vit"), ("assistant", "assistant_1")])
    card = render_model_card(info, folder_name="student")
    assert "huggingface.co/assistant_1" not in card and "| assistant | `assistant_1` |" in card


def test_numbers_are_formatted_for_reading():
    from hfnet.cards import ModelCardInfo, format_value, render_model_card

    assert [format_value(v) for v in (21162.0, 21162, 0.91234, 1.0, 2.5e-5, True)] == [
        "21162", "21162", "0.9123", "1.0000", "2.5e-05", "True",
    ]  # fmt: skip
    info = ModelCardInfo(title="t", summary="s", metrics={"parameters": 21162.0, "accuracy": 0.5})
    card = render_model_card(info, folder_name="m")
    assert "| parameters | 21162 |" in card and "21162.0000" not in card and "| accuracy | 0.5000 |" in card


def test_push_of_a_renamed_folder_names_the_repo_in_the_usage_snippet(tmp_path, tiny_vit_classifier, monkeypatch):
    import huggingface_hub

    from hfnet.cards import ModelCardInfo
    from hfnet.hub import push_to_hub

    saved = tiny_vit_classifier.save_pretrained(tmp_path / "proj", card=ModelCardInfo(title="t", summary="s"))
    renamed = saved.rename(tmp_path / "proj-copy")
    FakeHfApi.calls = []
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeHfApi)
    push_to_hub(renamed, "me/tiny-vit")
    readme = {op.path_in_repo: op for op in FakeHfApi.calls[1][2]}["README.md"].path_or_fileobj
    readme = bytes(readme).decode()
    assert 'from_pretrained("me/tiny-vit")' in readme and 'model="me/tiny-vit"' in readme
    assert "./proj" not in readme
