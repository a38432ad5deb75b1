"""Structured pruning: unit scores are sums of weight scores, the same count goes in every block, the exported
smaller model loads in plain transformers / timm with the logits of hfnet's in-memory pruned model, silent units
can be removed without changing anything, and bad requests fail before anything is written."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from hfnet.errors import HfnetError
from hfnet.pruning import apply_masks, magnitude_scores, random_scores
from hfnet.pruning.config import PruningConfig
from hfnet.pruning.pipeline import fit_head, run_pruning
from hfnet.pruning.structured import (
    build_pruned_model,
    choose_unit_counts,
    remove_units,
    structured_masks,
    unit_layout,
    unit_masks,
    unit_parameter_masks,
    unit_scores,
)

DIGITS = [str(i) for i in range(10)]


def _for_digits(classifier):
    clf = copy.deepcopy(classifier)
    torch.manual_seed(0)
    fit_head(clf, DIGITS)
    clf.eval()
    return clf


@pytest.fixture()
def vit(tiny_vit_classifier):
    return _for_digits(tiny_vit_classifier)


@pytest.fixture()
def timm_vit(tiny_timm_classifier):
    return _for_digits(tiny_timm_classifier)


def _pixels(clf, n=4):
    torch.manual_seed(1)
    return torch.randn(n, 3, *clf.preprocessing.image_size)


def _scores_with_biases(clf, seed=0):
    """Random per-weight scores for every weight and bias of the units (biases are added where scored)."""
    scores = random_scores(clf, seed=seed)
    gen = torch.Generator().manual_seed(seed + 1)
    for name, p in clf.model.named_parameters():
        if name.endswith(".bias") and name.replace(".bias", ".weight") in scores:
            scores[name] = torch.rand(p.shape, generator=gen)
    return scores


# ---------------------------------------------------------------------- layout and unit scores
def test_layout_transformers_and_timm(vit, timm_vit):
    a = unit_layout(vit)
    assert (a.num_blocks, a.num_heads, a.head_dim, a.num_neurons, a.hidden_size) == (2, 2, 16, 64, 32)
    assert a.blocks[0].qkv == tuple(f"vit.layers.0.attention.{n}_proj" for n in "qkv")
    assert a.blocks[1].fc2 == "vit.layers.1.mlp.fc2" and a.heads_removable and a.neurons_removable
    assert a.prunable_weights == sum(p.numel() for p in magnitude_scores(vit).values())
    b = unit_layout(timm_vit)
    assert b.blocks[0].qkv == ("blocks.0.attn.qkv",) and b.blocks[0].out == "blocks.0.attn.proj"
    assert b.neurons_removable and not b.heads_removable and "head_dim" in b.heads_note
    assert b.prunable_weights == sum(p.numel() for p in magnitude_scores(timm_vit).values())


def test_unit_scores_are_sums_of_weight_scores_transformers(vit):
    layout = unit_layout(vit)
    scores = _scores_with_biases(vit)
    u = unit_scores(scores, layout)
    assert u["heads"].shape == (2, 2) and u["neurons"].shape == (2, 64)
    d = layout.head_dim
    for i in range(2):
        p = f"vit.layers.{i}"
        for h in range(2):
            rows = slice(h * d, (h + 1) * d)
            want = sum(
                scores[f"{p}.attention.{x}_proj.weight"][rows].double().sum()
                + scores[f"{p}.attention.{x}_proj.bias"][rows].double().sum()
                for x in "qkv"
            )
            want += scores[f"{p}.attention.o_proj.weight"][:, rows].double().sum()
            assert torch.allclose(u["heads"][i, h], want, rtol=1e-12), (i, h)
        for j in (0, 17, 63):
            want = (
                scores[f"{p}.mlp.fc1.weight"][j].double().sum()
                + scores[f"{p}.mlp.fc1.bias"][j].double()
                + scores[f"{p}.mlp.fc2.weight"][:, j].double().sum()
            )
            assert torch.allclose(u["neurons"][i, j], want, rtol=1e-12), (i, j)
    # without bias scores only the weights count
    weights_only = unit_scores(random_scores(vit, seed=0), layout)
    assert not torch.allclose(weights_only["heads"], u["heads"])


def test_unit_scores_fused_qkv_timm(timm_vit):
    layout = unit_layout(timm_vit)
    scores = _scores_with_biases(timm_vit)
    u = unit_scores(scores, layout)
    h_, d = layout.num_heads, layout.head_dim
    w, b = scores["blocks.3.attn.qkv.weight"].double(), scores["blocks.3.attn.qkv.bias"].double()
    for h in range(h_):
        rows = torch.cat([torch.arange(k * h_ * d + h * d, k * h_ * d + (h + 1) * d) for k in range(3)])
        want = (
            w[rows].sum() + b[rows].sum() + scores["blocks.3.attn.proj.weight"][:, h * d : (h + 1) * d].double().sum()
        )
        assert torch.allclose(u["heads"][3, h], want, rtol=1e-12)
    assert torch.allclose(
        u["neurons"][3, 5],
        scores["blocks.3.mlp.fc1.weight"][5].double().sum()
        + scores["blocks.3.mlp.fc1.bias"][5].double()
        + scores["blocks.3.mlp.fc2.weight"][:, 5].double().sum(),
        rtol=1e-12,
    )


# ---------------------------------------------------------------------- masks
@pytest.mark.parametrize("sparsity", [0.1, 0.3, 0.5, 0.7])
def test_same_count_in_every_block_and_budget_met(vit, sparsity):
    layout = unit_layout(vit)
    u = unit_scores(magnitude_scores(vit), layout)
    keep = structured_masks(u, layout, sparsity)
    for kind in ("heads", "neurons"):
        counts = keep[kind].sum(dim=1)
        assert (counts == counts[0]).all() and counts[0] >= 1
    removed = layout.num_blocks * (
        (layout.num_heads - int(keep["heads"][0].sum())) * layout.weights_per_head
        + (layout.num_neurons - int(keep["neurons"][0].sum())) * layout.weights_per_neuron
    )
    assert abs(removed - sparsity * layout.prunable_weights) <= layout.num_blocks * layout.weights_per_neuron / 2
    # the lowest-scored units of each block go
    for i in range(layout.num_blocks):
        gone, kept = u["neurons"][i][~keep["neurons"][i]], u["neurons"][i][keep["neurons"][i]]
        if gone.numel():
            assert gone.max() <= kept.min()


def test_split_follows_the_scores(vit):
    layout = unit_layout(vit)  # 2 heads of 2048 weights, 64 neurons of 64 weights per block
    base = {"heads": torch.ones(2, 2) * 2048.0, "neurons": torch.ones(2, 64) * 64.0}
    cheap_heads = {"heads": base["heads"] * 0.01, "neurons": base["neurons"] + torch.arange(64.0)}
    # budget 0.4 * 8192 = 3276.8 weights per block: (0 heads, 51 neurons) or (1 head, 19 neurons)
    assert choose_unit_counts(cheap_heads, layout, 0.4) == (1, 19)
    cheap_neurons = {"heads": base["heads"] * 10, "neurons": base["neurons"] * 0.01}
    assert choose_unit_counts(cheap_neurons, layout, 0.4) == (0, 51)
    # fixed by the user: 1 of 2 heads, neurons fill the rest of the budget
    assert choose_unit_counts(cheap_neurons, layout, 0.4, head_fraction=0.5) == (1, 19)
    assert choose_unit_counts(cheap_heads, layout, 0.4, head_fraction=0.0) == (0, 51)
    # 0.5 cannot be met without heads (it would take all 64 neurons): one head must go
    assert choose_unit_counts(cheap_neurons, layout, 0.5) == (1, 32)


def test_ties_are_broken_by_position():
    scores = {"heads": torch.zeros(3, 4), "neurons": torch.ones(3, 6)}
    keep = unit_masks(scores, 2, 3)
    assert keep["heads"].tolist() == [[False, False, True, True]] * 3
    assert keep["neurons"].tolist() == [[False, False, False, True, True, True]] * 3


# ---------------------------------------------------------------------- export
def test_export_transformers_loads_in_plain_transformers(vit, tmp_path):
    from transformers import AutoModelForImageClassification

    layout = unit_layout(vit)
    keep = structured_masks(unit_scores(magnitude_scores(vit), layout), layout, 0.5, head_fraction=0.5)
    masked = copy.deepcopy(vit)  # in-memory reference: the removed units zeroed in the full-size model
    apply_masks(masked, unit_parameter_masks(keep, layout, masked))
    x = _pixels(vit)
    before = sum(p.numel() for p in vit.model.parameters())
    info = remove_units(vit, keep, layout)
    assert info.heads_after == 1 and info.neurons_after == 32 and info.params_after < before
    assert info.params_after == sum(p.numel() for p in vit.model.parameters())
    with torch.no_grad():
        pruned = vit.logits(x)
        torch.testing.assert_close(pruned, masked.logits(x), rtol=1e-5, atol=1e-5)
    folder = vit.save_pretrained(tmp_path / "out")
    config = json.loads((folder / "config.json").read_text())
    assert (config["num_attention_heads"], config["head_dim"], config["intermediate_size"]) == (1, 16, 32)
    assert config["hidden_size"] == 32
    plain = AutoModelForImageClassification.from_pretrained(folder).eval()
    assert plain.vit.layers[0].attention.q_proj.weight.shape == (16, 32)
    with torch.no_grad():
        torch.testing.assert_close(plain(pixel_values=x).logits, pruned, rtol=1e-5, atol=1e-5)


def test_export_timm_loads_with_local_dir(timm_vit, tmp_path):
    import timm

    layout = unit_layout(timm_vit)
    keep = structured_masks(unit_scores(magnitude_scores(timm_vit), layout), layout, 0.4)
    assert keep["heads"].all()  # timm cannot express fewer heads of the same width
    masked = copy.deepcopy(timm_vit)
    apply_masks(masked, unit_parameter_masks(keep, layout, masked))
    x = _pixels(timm_vit)
    info = remove_units(timm_vit, keep, layout)
    assert info.neurons_after == int(keep["neurons"][0].sum()) < 192
    with torch.no_grad():
        pruned = timm_vit.logits(x)
        torch.testing.assert_close(pruned, masked.logits(x), rtol=1e-5, atol=1e-5)
    folder = timm_vit.save_pretrained(tmp_path / "out")
    config = json.loads((folder / "config.json").read_text())
    assert int(64 * config["model_args"]["mlp_ratio"]) == info.neurons_after
    plain = timm.create_model(f"local-dir:{folder}", pretrained=True).eval()
    assert plain.blocks[0].mlp.fc1.out_features == info.neurons_after
    with torch.no_grad():
        torch.testing.assert_close(plain(x), pruned, rtol=1e-5, atol=1e-5)


def test_removing_silent_units_leaves_logits_unchanged(vit):
    layout = unit_layout(vit)
    d = layout.head_dim
    with torch.no_grad():  # silence head 1 and neurons 3, 40 in every block
        for i in range(layout.num_blocks):
            att, mlp = vit.model.vit.layers[i].attention, vit.model.vit.layers[i].mlp
            for lin in (att.q_proj, att.k_proj, att.v_proj):
                lin.weight[d : 2 * d] = 0
                lin.bias[d : 2 * d] = 0
            att.o_proj.weight[:, d : 2 * d] = 0
            for j in (3, 40):
                mlp.fc1.weight[j] = 0
                mlp.fc1.bias[j] = 0
                mlp.fc2.weight[:, j] = 0
    x = _pixels(vit)
    with torch.no_grad():
        dense = vit.logits(x)
    # magnitude scores rank exactly these all-zero units lowest
    keep = unit_masks(unit_scores(magnitude_scores(vit), layout), 1, 2)
    assert keep["heads"][:, 1].logical_not().all() and keep["neurons"][:, [3, 40]].logical_not().all()
    new = build_pruned_model(vit, keep, layout)
    with torch.no_grad():
        torch.testing.assert_close(new(pixel_values=x).logits, dense, rtol=1e-5, atol=1e-5)
    assert new.config.num_attention_heads == 1 and new.config.intermediate_size == 62


# ---------------------------------------------------------------------- pipeline and bad input
def test_run_pruning_structured_saves_a_smaller_model(tiny_vit_dir, digits_small, tmp_path):
    from transformers import AutoModelForImageClassification

    from hfnet.classifier import load_classifier
    from hfnet.training import default_training_arguments

    clf = load_classifier(tiny_vit_dir)
    config = PruningConfig(
        method="afr", sparsity=0.5, structured=True, calibration_samples=16, calibration_batch_size=8
    )
    args = default_training_arguments(str(tmp_path / "run"), max_steps=2, batch_size=8, disable_tqdm=True)
    summary = run_pruning(clf, digits_small, config, args, save_dir=tmp_path / "out", dataset_name="digits")
    assert summary["structured"] and summary["train_steps"] == 2
    assert summary["params_after"] < summary["params_before"]
    assert abs(summary["sparsity_prunable"] - 0.5) < 0.02
    assert summary["latency_ratio_b1"] > 0 and 0 <= summary["accuracy"] <= 1
    plain = AutoModelForImageClassification.from_pretrained(tmp_path / "out")
    assert plain.config.num_attention_heads == summary["heads_per_block_after"]
    assert plain.config.intermediate_size == summary["neurons_per_block_after"]
    assert sum(p.numel() for p in plain.parameters()) == summary["params_after"]
    card = (tmp_path / "out" / "README.md").read_text()
    assert "MLP neurons per block" in card and str(summary["params_after"]) in card


def test_bad_inputs_write_nothing(tiny_timm_dir, tiny_resnet_dir, digits_small, tmp_path):
    from hfnet.classifier import load_classifier

    def run(model_dir, **kw):
        config = PruningConfig(structured=True, method="magnitude", **kw)
        run_pruning(load_classifier(model_dir), digits_small, config, None, save_dir=tmp_path / "x", dataset_name="d")

    with pytest.raises(HfnetError, match="no attention heads or MLP neurons"):
        run(tiny_resnet_dir, sparsity=0.5)
    with pytest.raises(HfnetError, match="cannot be met while keeping at least one head and one MLP neuron"):
        run(tiny_timm_dir, sparsity=0.75)  # timm: neurons only, at most ~0.6 of the block weights
    with pytest.raises(HfnetError, match="head_fraction 0.5 removes 1 of 2 heads"):
        run(tiny_timm_dir, sparsity=0.5, head_fraction=0.5)
    assert not (tmp_path / "x").exists()


def test_bad_masks_and_budgets(vit):
    layout = unit_layout(vit)
    u = unit_scores(magnitude_scores(vit), layout)
    with pytest.raises(HfnetError, match="cannot be met"):
        structured_masks(u, layout, 0.99)
    uneven = unit_masks(u, 1, 4)
    uneven["neurons"][0, :] = True
    with pytest.raises(HfnetError, match="same number of neurons"):
        build_pruned_model(vit, uneven, layout)
    no_head = unit_masks(u, 0, 4)
    no_head["heads"][:] = False
    with pytest.raises(HfnetError, match="at least one of its heads"):
        build_pruned_model(vit, no_head, layout)
    with pytest.raises(HfnetError, match="no entry for"):
        unit_scores({"vit.layers.0.attention.q_proj.weight": torch.zeros(32, 32)}, layout)


def test_config_validation():
    assert PruningConfig(structured=True, head_fraction=0.25).head_fraction == 0.25
    with pytest.raises(HfnetError, match="structured pruning only"):
        PruningConfig(head_fraction=0.5)
    with pytest.raises(HfnetError, match=r"head_fraction must be in \[0, 1\)"):
        PruningConfig(structured=True, head_fraction=1.0)


def test_config_imports_without_torch(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    code = (
        "import sys, importlib.util\n"
        "sys.modules['torch'] = None\n"  # any `import torch` now fails
        f"sys.path.insert(0, {str(root)!r})\n"
        f"spec = importlib.util.spec_from_file_location('cfg', {str(root / 'hfnet/pruning/config.py')!r})\n"
        "mod = importlib.util.module_from_spec(spec); sys.modules['cfg'] = mod; spec.loader.exec_module(mod)\n"
        "print(mod.PruningConfig(structured=True, sparsity=0.5).structured)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "True"
