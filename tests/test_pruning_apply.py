"""Applying masks: zeros survive Trainer fine-tuning (grad accumulation, weight decay, AdamW), the rest trains, and
the saved checkpoint reloads in plain transformers / timm with identical logits and the same zeros."""

from __future__ import annotations

import copy

import pytest
import torch

from hfnet.errors import HfnetError
from hfnet.pruning import MaskCallback, apply_masks, global_masks, magnitude_scores, prunable_parameters
from hfnet.pruning.pipeline import fit_head
from hfnet.training import default_training_arguments, train_classifier

DIGITS = [str(i) for i in range(10)]


def _pruned(classifier, sparsity=0.9):
    clf = copy.deepcopy(classifier)
    torch.manual_seed(0)
    fit_head(clf, DIGITS)
    masks = global_masks(magnitude_scores(clf), sparsity)
    apply_masks(clf, masks)
    return clf, masks


def _train(clf, data, tmp_path, callbacks, **overrides):
    args = default_training_arguments(
        str(tmp_path / "run"),
        max_steps=4,
        batch_size=8,
        learning_rate=1e-2,
        gradient_accumulation_steps=2,
        weight_decay=0.1,
        disable_tqdm=True,
        logging_steps=100,
        **overrides,
    )
    return train_classifier(clf, data, output_dir=args.output_dir, args=args, callbacks=callbacks)


def test_zeros_survive_trainer_steps_with_grad_accumulation(tiny_vit_classifier, digits_small, tmp_path):
    clf, masks = _pruned(tiny_vit_classifier)
    before = {n: p.detach().clone() for n, p in clf.model.named_parameters()}
    trainer = _train(clf, digits_small["train"], tmp_path, [MaskCallback(clf, masks)])
    assert trainer.state.global_step == 4
    params = dict(clf.model.named_parameters())
    for name, mask in masks.items():
        assert torch.count_nonzero(params[name].detach()[~mask]) == 0, name
        assert not torch.equal(params[name].detach()[mask], before[name][mask]), name  # kept weights trained
    assert not torch.equal(params["classifier.weight"], before["classifier.weight"])
    # the optimizer state of pruned weights stays zero too (gradients are masked before every step)
    state = trainer.optimizer.state[params[next(iter(masks))]]
    assert torch.count_nonzero(state["exp_avg"][~masks[next(iter(masks))]]) == 0


def test_zeros_survive_bf16_mixed_precision(tiny_timm_classifier, digits_small, tmp_path):
    clf, masks = _pruned(tiny_timm_classifier)
    before = {n: p.detach().clone() for n, p in clf.model.named_parameters()}
    _train(clf, digits_small["train"], tmp_path, [MaskCallback(clf, masks)], bf16=True, use_cpu=True)
    params = dict(clf.model.named_parameters())
    for name, mask in masks.items():
        assert params[name].dtype == torch.float32  # master weights stay fp32 under autocast
        assert torch.count_nonzero(params[name].detach()[~mask]) == 0, name
        assert not torch.equal(params[name].detach()[mask], before[name][mask]), name


def test_without_the_callback_zeros_come_back(tiny_vit_classifier, digits_small, tmp_path):
    clf, masks = _pruned(tiny_vit_classifier)
    _train(clf, digits_small["train"], tmp_path, None)
    params = dict(clf.model.named_parameters())
    assert any(torch.count_nonzero(params[n].detach()[~m]) > 0 for n, m in masks.items())


def _check_reload(clf, masks, folder, reloaded_model, pixels):
    state = reloaded_model.state_dict()
    assert set(state) == set(clf.model.state_dict())  # no masks, no *_orig, nothing extra
    for name, mask in masks.items():
        assert torch.equal(state[name] == 0, ~mask | (clf.model.state_dict()[name] == 0)), name
    with torch.no_grad():
        out = reloaded_model(pixels)
        logits = out.logits if hasattr(out, "logits") else out
        assert torch.equal(logits, clf.logits(pixels))


def test_saved_transformers_checkpoint_reloads_in_plain_transformers(tiny_vit_classifier, tmp_path):
    from transformers import AutoModelForImageClassification

    clf, masks = _pruned(tiny_vit_classifier, 0.95)
    clf.eval()
    folder = clf.save_pretrained(tmp_path / "pruned")
    model = AutoModelForImageClassification.from_pretrained(folder).eval()
    assert model.config.id2label[3] == "3"
    _check_reload(clf, masks, folder, model, torch.randn(4, 3, 32, 32))


def test_saved_timm_checkpoint_reloads_in_plain_timm(tiny_timm_classifier, tmp_path):
    import timm

    clf, masks = _pruned(tiny_timm_classifier, 0.95)
    clf.eval()
    folder = clf.save_pretrained(tmp_path / "pruned")
    model = timm.create_model(f"local-dir:{folder}", pretrained=True).eval()
    _check_reload(clf, masks, folder, model, torch.randn(4, 3, 32, 32))


def test_mask_must_fit_the_model(tiny_vit_classifier):
    clf = copy.deepcopy(tiny_vit_classifier)
    name, p = next(iter(prunable_parameters(clf).items()))
    with pytest.raises(HfnetError, match="shape"):
        apply_masks(clf, {name: torch.ones(p.shape[0] + 1, p.shape[1], dtype=torch.bool)})
    with pytest.raises(HfnetError, match="not a parameter"):
        apply_masks(clf, {"nope.weight": torch.ones(2, dtype=torch.bool)})
