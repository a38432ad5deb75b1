"""Applying masks: zeros survive Trainer fine-tuning (grad accumulation, weight decay, AdamW), the rest trains, and
the saved checkpoint reloads in plain transformers / timm with identical logits and the same zeros."""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import TrainerCallback

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


class _Watch(TrainerCallback):
    """Observes the mask invariant while training runs, independently of :class:`MaskCallback`.

    - a forward pre-hook on the model: every training forward pass (every micro-batch of an accumulation) must see
      the masked weights at exactly zero;
    - at every step end, the optimizer's per-weight state (SGD momentum, Adam moments) of masked entries must be zero,
      so no pruned weight can be revived by the optimizer later.
    """

    def __init__(self, clf, masks) -> None:
        params = dict(clf.model.named_parameters())
        self.pairs = [(n, params[n], m) for n, m in masks.items()]
        self.forwards = self.steps = 0
        self.violations: list[str] = []
        self.handle = clf.model.register_forward_pre_hook(self._check_weights)

    def _check_weights(self, module, args) -> None:
        if not module.training:
            return
        self.forwards += 1
        for name, p, mask in self.pairs:
            if torch.count_nonzero(p.detach()[~mask]):
                self.violations.append(f"forward {self.forwards}: {name} has non-zero masked weights")

    def on_step_end(self, args, state, control, optimizer=None, **kwargs):
        self.steps += 1
        for name, p, mask in self.pairs:
            for key, value in optimizer.state.get(p, {}).items():
                if torch.is_tensor(value) and value.shape == p.shape and torch.count_nonzero(value[~mask]):
                    self.violations.append(f"step {self.steps}: optimizer state {key} of {name} non-zero")


def _train_watched(clf, masks, data, tmp_path, *, optimizer=None, steps=4, accumulation=2, **overrides):
    from transformers import Trainer

    from hfnet.data import collate_fn
    from hfnet.training import prepare_datasets

    args = default_training_arguments(
        str(tmp_path / "run"), max_steps=steps, batch_size=8, learning_rate=1e-2,
        gradient_accumulation_steps=accumulation, weight_decay=0.1, disable_tqdm=True, logging_steps=100, **overrides,
    )  # fmt: skip
    watch = _Watch(clf, masks)
    train_ds, _ = prepare_datasets(clf, data, None)
    trainer = Trainer(
        model=clf, args=args, train_dataset=train_ds, data_collator=collate_fn,
        callbacks=[MaskCallback(clf, masks), watch], optimizers=(optimizer, None),
    )  # fmt: skip
    try:
        trainer.train()
    finally:
        watch.handle.remove()
    return trainer, watch


def _sgd_momentum(clf):
    return torch.optim.SGD(clf.parameters(), lr=0.05, momentum=0.9, weight_decay=0.1)


@pytest.mark.parametrize(
    "case",
    ["adamw + weight decay + accumulation", "sgd momentum + weight decay + accumulation", "adamw + bf16 autocast"],
)
def test_masked_weights_stay_zero_at_every_step(
    tiny_vit_classifier, tiny_timm_classifier, digits_small, tmp_path, case
):
    base = tiny_timm_classifier if "bf16" in case else tiny_vit_classifier
    clf, masks = _pruned(base)
    before = {n: p.detach().clone() for n, p in clf.model.named_parameters()}
    extra = dict(bf16=True, use_cpu=True) if "bf16" in case else {}
    optimizer = _sgd_momentum(clf) if "sgd" in case else None
    trainer, watch = _train_watched(clf, masks, digits_small["train"], tmp_path, optimizer=optimizer, **extra)
    assert trainer.state.global_step == 4 and watch.steps == 4
    assert watch.forwards == 4 * 2  # every micro-batch's forward was checked
    assert watch.violations == []
    params = dict(clf.model.named_parameters())
    for name, mask in masks.items():
        assert params[name].dtype == torch.float32  # master weights stay fp32 under autocast
        assert not torch.equal(params[name].detach()[mask], before[name][mask]), name  # kept weights trained
    assert not torch.equal(params[clf.head_name + ".weight"], before[clf.head_name + ".weight"])
    state = trainer.optimizer.state[params[next(iter(masks))]]
    assert set(state) & {"exp_avg", "momentum_buffer"}  # the state the watch inspected exists


def test_the_watch_sees_a_callback_that_stops_rezeroing(tiny_vit_classifier, digits_small, tmp_path):
    """The same watch on a callback that only zeroes at the end of training (what an after-the-fact test sees)."""

    class _AtEndOnly(MaskCallback):
        def on_pre_optimizer_step(self, args, state, control, **kwargs):
            pass

        def on_optimizer_step(self, args, state, control, **kwargs):
            pass

        def on_step_end(self, args, state, control, **kwargs):
            pass

    clf, masks = _pruned(tiny_vit_classifier)
    from transformers import Trainer

    from hfnet.data import collate_fn
    from hfnet.training import prepare_datasets

    args = default_training_arguments(
        str(tmp_path / "run"), max_steps=3, batch_size=8, learning_rate=1e-2, disable_tqdm=True, logging_steps=100
    )
    watch = _Watch(clf, masks)
    train_ds, _ = prepare_datasets(clf, digits_small["train"], None)
    Trainer(
        model=clf, args=args, train_dataset=train_ds, data_collator=collate_fn,
        callbacks=[_AtEndOnly(clf, masks), watch], optimizers=(_sgd_momentum(clf), None),
    ).train()  # fmt: skip
    watch.handle.remove()
    params = dict(clf.model.named_parameters())
    assert all(torch.count_nonzero(params[n].detach()[~m]) == 0 for n, m in masks.items())  # zero after the fact
    assert any("forward" in v for v in watch.violations)  # but not while training ran
    assert any("momentum_buffer" in v for v in watch.violations)


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
