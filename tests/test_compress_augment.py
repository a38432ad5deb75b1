"""Consistent teaching in ``hfnet compress``: the crop / mixup views as pure functions, and in the trainer the teacher
sees exactly the student's view at every training step, while evaluation sees the batch as it is."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hfnet.compression.augment import View, consistent_view, mixup, random_resized_crop, view_hard_loss
from hfnet.compression.config import CompressConfig
from hfnet.errors import HfnetError

DIGITS = [str(i) for i in range(10)]


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_full_crop_is_the_image_or_its_mirror():
    x = torch.randn(64, 3, 8, 8)
    out = random_resized_crop(x, _rng(), scale=(1.0, 1.0), ratio=(1.0, 1.0))
    same = torch.isclose(out, x, atol=1e-5).flatten(1).all(1)
    mirrored = torch.isclose(out, x.flip(-1), atol=1e-5).flatten(1).all(1)
    assert bool((same | mirrored).all())
    assert 10 < int(mirrored.sum()) < 54  # flipped with probability 1/2
    unflipped = random_resized_crop(x, _rng(), scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=False)
    torch.testing.assert_close(unflipped, x, atol=1e-5, rtol=0)


def test_crop_is_a_window_of_the_asked_size_inside_the_image():
    w = 64
    ramp_x = torch.linspace(0, 1, w).view(1, 1, 1, w).expand(32, 1, w, w)
    ramp_y = ramp_x.transpose(-1, -2)
    x = torch.cat([ramp_x, ramp_y], dim=1).contiguous()
    out = random_resized_crop(x, _rng(1), scale=(0.25, 0.25), ratio=(1.0, 1.0), flip=False)
    for channel in (0, 1):  # a quarter of the area, square: half of each side, never outside the image
        spans = out[:, channel].amax((1, 2)) - out[:, channel].amin((1, 2))
        torch.testing.assert_close(spans, torch.full_like(spans, 0.5), atol=0.03, rtol=0)
        assert float(out[:, channel].min()) >= 0.0 and float(out[:, channel].max()) <= 1.0
    for scale, ratio in (((0.1, 1.0), (1.0, 1.0)), ((0.25, 0.25), (0.5, 2.0))):  # area, aspect drawn per image
        sizes = random_resized_crop(x, _rng(2), scale=scale, ratio=ratio, flip=False)
        spans = sizes[:, 0].amax((1, 2)) - sizes[:, 0].amin((1, 2))
        assert float(spans.max() - spans.min()) > 0.2
    for channel in (0, 1):  # the window moves from image to image, across and down
        starts = out[:, channel].amin((1, 2))
        assert float(starts.max() - starts.min()) > 0.2
    wide = random_resized_crop(x, _rng(1), scale=(0.25, 0.25), ratio=(2.0, 2.0), flip=False)
    ratio = (wide[:, 0].amax((1, 2)) - wide[:, 0].amin((1, 2))) / (wide[:, 1].amax((1, 2)) - wide[:, 1].amin((1, 2)))
    torch.testing.assert_close(ratio, torch.full_like(ratio, 2.0), atol=0.1, rtol=0)


def test_crop_sides_never_exceed_the_image():
    w = 16
    ramp_x = torch.linspace(0, 1, w).view(1, 1, 1, w).expand(4, 1, w, w)
    x = torch.cat([ramp_x, ramp_x.transpose(-1, -2)], dim=1).contiguous()
    wide = random_resized_crop(x, _rng(), scale=(1.0, 1.0), ratio=(2.0, 2.0), flip=False)
    torch.testing.assert_close(wide[:, 0], x[:, 0], atol=1e-5, rtol=0)  # full width (capped), a band of the height
    assert float((wide[:, 1].amax((1, 2)) - wide[:, 1].amin((1, 2))).max()) < 0.8
    tall = random_resized_crop(x, _rng(), scale=(1.0, 1.0), ratio=(0.5, 0.5), flip=False)
    torch.testing.assert_close(tall[:, 1], x[:, 1], atol=1e-5, rtol=0)


def test_mixup_blends_each_image_with_a_partner():
    x = torch.randn(16, 3, 4, 4)
    view = mixup(x, _rng(), alpha=1.0)
    assert sorted(view.partner.tolist()) == list(range(16))
    assert bool(((view.lam >= 0) & (view.lam <= 1)).all())
    lam = view.lam.view(-1, 1, 1, 1)
    torch.testing.assert_close(view.pixel_values, lam * x + (1 - lam) * x[view.partner])
    even = mixup(x, _rng(), alpha=1000.0)  # Beta(a, a) concentrates at 1/2 as a grows
    torch.testing.assert_close(even.lam, torch.full((16,), 0.5), atol=0.05, rtol=0)
    with pytest.raises(ValueError, match="alpha"):
        mixup(x, _rng(), alpha=0.0)


def test_views_by_name_and_their_labels():
    x = torch.randn(8, 3, 6, 6)
    assert consistent_view(x, "none", _rng()).pixel_values is x
    crop = consistent_view(x, "crop", _rng())
    assert crop.partner is None and not torch.equal(crop.pixel_values, x)
    both = consistent_view(x, "crop+mixup", _rng())
    assert both.partner is not None and both.pixel_values.shape == x.shape
    mixed = consistent_view(x, "mixup", _rng())  # mixup alone: no crop before the blend
    lam = mixed.lam.view(-1, 1, 1, 1)
    torch.testing.assert_close(mixed.pixel_values, lam * x + (1 - lam) * x[mixed.partner])
    even = consistent_view(x, "crop+mixup", _rng(), mixup_alpha=1000.0)  # the Beta parameter reaches mixup
    torch.testing.assert_close(even.lam, torch.full((8,), 0.5), atol=0.05, rtol=0)
    with pytest.raises(ValueError, match="augmentation"):
        consistent_view(x, "cutmix", _rng())
    logits, labels = torch.randn(4, 10), torch.tensor([1, 2, 3, 4])
    partner = torch.tensor([1, 0, 3, 2])
    own = F.cross_entropy(logits, labels, reduction="none")
    other = F.cross_entropy(logits, labels[partner], reduction="none")
    torch.testing.assert_close(view_hard_loss(logits, labels, View(logits)), own)
    lam = torch.tensor([1.0, 0.0, 0.25, 0.5])
    torch.testing.assert_close(
        view_hard_loss(logits, labels, View(logits, partner, lam)), lam * own + (1 - lam) * other
    )


@pytest.mark.parametrize("kwargs", [{"augment": "cutmix"}, {"mixup_alpha": 0.0}])
def test_config_refuses_bad_augmentation(kwargs):
    with pytest.raises(HfnetError):
        CompressConfig(**kwargs)


@pytest.fixture(scope="module")
def digits_teacher():
    from hfnet.data import load_image_dataset
    from hfnet.zoo import tiny_vit

    clf = tiny_vit(DIGITS, image_size=32, patch_size=8, hidden_size=32, num_layers=2, num_heads=4, seed=0)
    data = load_image_dataset("digits", samples_per_class=8, test_samples_per_class=2, seed=0)
    return clf.eval().requires_grad_(False), data


def _recover(teacher, data, config: CompressConfig, *, steps: int = 3, seed: int = 0, student=None):
    """Train a copy of ``teacher`` (or ``student``) for ``steps`` with the stage recovery of ``hfnet compress``."""
    from hfnet.compression.pipeline import _training_config, recover_stage
    from hfnet.options import TrainingOptions

    student = student if student is not None else copy.deepcopy(teacher).requires_grad_(True)
    args = _training_config(TrainingOptions(max_steps=steps, batch_size=16, seed=seed), "unused", config, steps, 1)
    trainer, frozen = recover_stage(student, teacher, data["train"], config, args)
    return student, trainer, frozen


def _record_inputs(module, store: list):
    def hook(_module, _args, kwargs):
        store.append(kwargs["pixel_values"].clone())

    return module.register_forward_pre_hook(hook, with_kwargs=True)


@pytest.mark.parametrize("augment", ["crop", "crop+mixup"])
def test_teacher_sees_the_students_view_at_every_step(digits_teacher, monkeypatch, augment):
    import hfnet.compression.trainer as trainer_module

    teacher, data = digits_teacher
    views = []
    real = trainer_module.consistent_view

    def spy(pixel_values, *args, **kwargs):
        view = real(pixel_values, *args, **kwargs)
        views.append((pixel_values.clone(), view.pixel_values.clone()))
        return view

    monkeypatch.setattr(trainer_module, "consistent_view", spy)
    student = copy.deepcopy(teacher).requires_grad_(True)
    seen_teacher: list = []
    seen_student: list = []
    handles = [_record_inputs(teacher.model, seen_teacher), _record_inputs(student.model, seen_student)]
    try:
        config = CompressConfig(sparsity=0.0, augment=augment, alpha=1.0)
        _, trainer, frozen = _recover(teacher, data, config, student=student)
        assert len(views) == len(seen_teacher) == len(seen_student) == 3
        for (raw, view), t_in, s_in in zip(views, seen_teacher, seen_student):
            assert torch.equal(t_in, view) and torch.equal(s_in, view)  # the same pixels, at this step
            assert not torch.allclose(view, raw)  # and really a new view of the batch
        # evaluation: the student alone, on the batch as it is
        views.clear(), seen_teacher.clear(), seen_student.clear()
        trainer.evaluate(trainer.train_dataset)
        assert views == [] and seen_teacher == [] and seen_student
        first = seen_student[0]
        batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(first))])
        assert torch.equal(first, batch["pixel_values"])
    finally:
        for h in handles:
            h.remove()
    assert frozen.steps_checked == 7 and not teacher.training


def test_labels_only_does_not_run_the_teacher(digits_teacher):
    teacher, data = digits_teacher
    student = copy.deepcopy(teacher).requires_grad_(True)  # before the hook: a deep copy would carry it along
    seen: list = []
    handle = _record_inputs(teacher.model, seen)
    try:
        config = CompressConfig(sparsity=0.0, alpha=0.0, augment="mixup")
        _, trainer, frozen = _recover(teacher, data, config, student=student)
    finally:
        handle.remove()
    assert seen == [] and frozen.steps_checked == 7
    trainer.log({})
    logged = [row for row in trainer.state.log_history if "loss_hard" in row]
    assert logged and all("loss_soft" not in row for row in logged)


def test_views_repeat_with_the_seed(digits_teacher):
    teacher, data = digits_teacher
    config = CompressConfig(sparsity=0.0, augment="crop+mixup")
    a, b = (_recover(teacher, data, config, steps=2)[0] for _ in range(2))
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
