import pytest
import torch
from distill_setup import kd_args, kd_student, kd_teacher

from hfnet.classifier import load_classifier
from hfnet.distillation.chain import distill, distill_chain, run_hint_stage
from hfnet.distillation.data import with_distillation_transform
from hfnet.distillation.trainer import DistillationTrainer, convert_pixels
from hfnet.errors import HfnetError
from hfnet.preprocessing import Preprocessing, build_transform, with_model_transform
from hfnet.zoo import tiny_resnet, tiny_vit

_teacher, _student, _args = kd_teacher, kd_student, kd_args


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_teacher_unchanged_student_changed_terms_logged(kd_digits, names, tmp_path):
    teacher, student = _teacher(names), _student(names)
    t0, s0 = _state(teacher), _state(student)
    trainer = distill(student, teacher, kd_digits["train"], _args(tmp_path))
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, t0[k]), k  # BatchNorm buffers included: the teacher ran in eval mode
    assert all(not p.requires_grad for p in teacher.parameters())
    changed = [k for k, v in student.state_dict().items() if not torch.equal(v, s0[k])]
    assert len(changed) > len(s0) // 2
    logged = trainer.state.log_history[0]
    assert {"loss_hard", "loss_soft", "alpha_mean"} <= set(logged)
    a = trainer.args.alpha  # the default, 0.5
    assert logged["loss"] == pytest.approx((1 - a) * logged["loss_hard"] + a * logged["loss_soft"], rel=1e-3)


def test_gradient_accumulation_keeps_loss_scale(kd_digits, names, tmp_path):
    teacher = _teacher(names)
    results = []
    for bs, ga in ((8, 1), (4, 2)):
        student = _student(names)
        args = _args(
            tmp_path, per_device_train_batch_size=bs, gradient_accumulation_steps=ga, max_steps=1, optim="sgd"
        )
        trainer = distill(student, teacher, kd_digits["train"], args)
        results.append((trainer.state.log_history[0]["loss"], _state(student)))
    (loss_a, state_a), (loss_b, state_b) = results
    assert loss_b == pytest.approx(loss_a, rel=1e-4)
    for k in state_a:
        torch.testing.assert_close(state_b[k], state_a[k], rtol=1e-4, atol=1e-6)


def test_evaluation_does_not_run_teacher(kd_digits, names, tmp_path):
    teacher, student = _teacher(names), _student(names)
    calls = []
    teacher.register_forward_hook(lambda *_: calls.append(1))
    ds = with_distillation_transform(kd_digits["test"], student.preprocessing, teacher.preprocessing)
    trainer = DistillationTrainer(student, teacher, _args(tmp_path), eval_dataset=ds)
    metrics = trainer.evaluate()
    assert calls == []
    assert metrics["eval_loss"] > 0


def test_logit_cache_matches_and_refuses_augmentation(kd_digits, names, tmp_path):
    teacher = _teacher(names)
    losses = []
    for cache in (False, True):
        student = _student(names)
        trainer = distill(
            student, teacher, kd_digits["train"], _args(tmp_path, cache_teacher_logits=cache, max_steps=2)
        )
        losses.append([h["loss"] for h in trainer.state.log_history if "loss" in h])
    assert losses[1] == pytest.approx(losses[0], rel=1e-4)
    with pytest.raises(HfnetError, match="random augmentation"):
        distill(
            _student(names),
            teacher,
            kd_digits["train"],
            _args(tmp_path, cache_teacher_logits=True),
            train_augment=True,
        )


def test_convert_pixels_matches_teacher_transform(kd_digits):
    image = kd_digits["train"][0]["image"]
    student = Preprocessing(image_size=(32, 32), mean=(0.5,) * 3, std=(0.5,) * 3)
    teacher = Preprocessing(image_size=(32, 32))
    x = build_transform(student)(image)[None]
    torch.testing.assert_close(convert_pixels(x, student, teacher), build_transform(teacher)(image)[None])
    small = Preprocessing(image_size=(16, 16))
    assert convert_pixels(x, student, small).shape == (1, 3, 16, 16)


def test_distillation_dataset_gives_both_pixels(kd_digits, names):
    teacher, student = _teacher(names), _student(names)
    ds = with_distillation_transform(kd_digits["train"], student.preprocessing, teacher.preprocessing)
    ex = ds[0]
    assert ex["pixel_values"].shape == (3, 16, 16)
    assert ex["teacher_pixel_values"].shape == (3, 32, 32)
    torch.testing.assert_close(
        ex["teacher_pixel_values"], build_transform(teacher.preprocessing)(kd_digits["train"][0]["image"])
    )


def test_different_label_sets_rejected(kd_digits, names, tmp_path):
    teacher = _teacher(names)
    other = _student(list(reversed(names)))
    with pytest.raises(HfnetError, match="different label sets"):
        distill(other, teacher, kd_digits["train"], _args(tmp_path))
    fewer = _student(names[:5])
    with pytest.raises(HfnetError, match="10 classes but the student 5"):
        DistillationTrainer(fewer, teacher, _args(tmp_path))


@pytest.mark.parametrize("temperature", [0.0, -2.0])
def test_temperature_must_be_positive(tmp_path, temperature):
    with pytest.raises(HfnetError, match="temperature must be > 0"):
        _args(tmp_path, temperature=temperature)


def test_bad_alpha_merit_and_hint_spec(tmp_path):
    with pytest.raises(HfnetError, match="alpha"):
        _args(tmp_path, alpha=1.5)
    with pytest.raises(HfnetError, match="merit_delta"):
        _args(tmp_path, merit_delta=-0.1)
    with pytest.raises(HfnetError, match="STUDENT_LAYER:TEACHER_LAYER"):
        _args(tmp_path, hint="vit.layers.0")


def test_unknown_hint_layers_list_available(kd_digits, names, tmp_path):
    teacher, student = _teacher(names), _student(names)
    ds = with_distillation_transform(kd_digits["train"], student.preprocessing, teacher.preprocessing)
    with pytest.raises(HfnetError, match=r"unknown student hint layer 'nope'.*vit\.layers\.0, vit\.layers\.1"):
        run_hint_stage(student, teacher, ds, _args(tmp_path), "nope:resnet.encoder.stages.0")
    with pytest.raises(HfnetError, match=r"unknown teacher hint layer 'bad'.*resnet\.encoder\.stages\.1"):
        run_hint_stage(student, teacher, ds, _args(tmp_path), "vit.layers.0:bad")


def test_hint_stage_trains_only_up_to_the_layer(kd_digits, names, tmp_path):
    teacher, student = _teacher(names), _student(names)
    ds = with_distillation_transform(kd_digits["train"], student.preprocessing, teacher.preprocessing)
    s0 = _state(student)
    trainer = run_hint_stage(
        student, teacher, ds, _args(tmp_path, hint_max_steps=4), ("vit.layers.0", "resnet.encoder.stages.0")
    )
    after = student.state_dict()
    changed = {k for k in s0 if not torch.equal(after[k], s0[k])}
    assert any(".layers.0." in k for k in changed)
    assert not any(".layers.1." in k or "classifier" in k for k in changed)
    assert all(p.requires_grad for p in student.parameters())  # flags restored after the stage
    hints = [h["loss_hint"] for h in trainer.state.log_history if "loss_hint" in h]
    assert len(hints) == 4 and hints[-1] < hints[0]


def test_chain_saves_checkpoints_with_cards(kd_digits, names, tmp_path):
    teacher = _teacher(names)
    assistant = tiny_vit(names, image_size=16, patch_size=4, hidden_size=48, num_layers=2, num_heads=2, seed=3)
    student = _student(names)
    results = distill_chain(
        [teacher, assistant, student],
        kd_digits["train"],
        _args(tmp_path, max_steps=2),
        eval_dataset=kd_digits["test"],
        hints=[None, "vit.layers.0:vit.layers.0"],
        output_dir=tmp_path / "chain",
        dataset_name="digits",
    )
    assert [r.name for r in results] == ["assistant_1", "student"]
    assert [r.teacher_name for r in results] == ["teacher", "assistant_1"]
    test = with_model_transform(kd_digits["test"], student.preprocessing)
    pixels = torch.stack([test[i]["pixel_values"] for i in range(len(test))])
    labels = torch.tensor(kd_digits["test"]["label"])
    with torch.no_grad():
        by_hand = float((student.eval().logits(pixels).argmax(1) == labels).float().mean())
    assert results[-1].metrics["accuracy"] == pytest.approx(by_hand)
    loaded = load_classifier(tmp_path / "chain" / "student")
    assert loaded.class_names == names
    x = with_model_transform(kd_digits["test"], student.preprocessing)[0]["pixel_values"][None]
    torch.testing.assert_close(loaded.logits(x), student.eval().logits(x))
    card = (tmp_path / "chain" / "student" / "README.md").read_text()
    assert "teacher -> assistant_1 -> student" in card and "accuracy" in card and "hint" in card


def _one_batch(trainer, kd_digits, student, teacher, n=8):
    ds = with_distillation_transform(kd_digits["train"], student.preprocessing, teacher.preprocessing)
    return trainer.data_collator([ds[i] for i in range(n)])


@pytest.mark.parametrize("delta", [0.0, 0.3])
def test_merit_weights_reach_the_trainer_loss(kd_digits, names, tmp_path, delta):
    """compute_loss = mean((1 - a_i) CE_i + a_i T^2 KL_i) with a_i = alpha + delta where the teacher is right, alpha -
    delta where it is wrong, computed here from the teacher's logits without hfnet's loss functions."""
    import torch.nn.functional as F

    teacher, student = _teacher(names), _student(names)
    trainer = DistillationTrainer(student, teacher, _args(tmp_path, alpha=0.5, merit_delta=delta, temperature=2.0))
    batch = _one_batch(trainer, kd_digits, student, teacher)
    student.train()
    loss = trainer.compute_loss(student, batch)
    with torch.no_grad():
        t_logits = teacher.eval().logits(batch["teacher_pixel_values"])
        s_logits = student.logits(batch["pixel_values"])
    correct = t_logits.argmax(1) == batch["labels"]
    assert 0 < int(correct.sum()) < len(correct)  # the random teacher is right on some samples, wrong on others
    alpha = torch.where(correct, 0.5 + delta, 0.5 - delta)
    ce = F.cross_entropy(s_logits, batch["labels"], reduction="none")
    p_t = F.softmax(t_logits / 2.0, dim=1)
    kl = (p_t * (p_t.log() - F.log_softmax(s_logits / 2.0, dim=1))).sum(1) * 4.0
    assert float(loss.detach()) == pytest.approx(float(((1 - alpha) * ce + alpha * kl).mean()), rel=1e-5)
    assert float(trainer._metrics["train"]["alpha_mean"][-1]) == pytest.approx(float(alpha.mean()), rel=1e-6)


def test_each_chain_stage_distills_from_the_previous_model(kd_digits, names, tmp_path, monkeypatch):
    """Soft targets seen in every training step, against the logits of the model that should be the stage's teacher."""
    recorded: list[tuple[torch.Tensor, torch.Tensor]] = []
    original = DistillationTrainer.teacher_logits

    def spy(self, inputs):
        logits = original(self, inputs)
        recorded.append((inputs["teacher_pixel_values"].detach().clone(), logits.detach().clone()))
        return logits

    monkeypatch.setattr(DistillationTrainer, "teacher_logits", spy)
    teacher = _teacher(names)
    assistant = tiny_resnet(names, image_size=24, embedding_size=8, hidden_sizes=(8, 16), depths=(1, 1), seed=3)
    student = _student(names)
    results = distill_chain([teacher, assistant, student], kd_digits["train"], _args(tmp_path, max_steps=2))
    assert [r.teacher_name for r in results] == ["teacher", "assistant_1"]
    assert len(recorded) == 4  # 2 steps per stage
    teacher.eval()
    assistant.eval()  # trained in stage 1, frozen in stage 2: its logits now are those it gave in stage 2
    with torch.no_grad():
        for stage, (pixels, logits) in enumerate(recorded):
            expected, other = (teacher, assistant) if stage < 2 else (assistant, teacher)
            assert pixels.shape[-1] == expected.preprocessing.image_size[-1]  # the stage teacher's resolution
            torch.testing.assert_close(logits, expected.logits(pixels), rtol=1e-4, atol=1e-5)
            other_pixels = convert_pixels(pixels, expected.preprocessing, other.preprocessing)
            assert not torch.allclose(logits, other.logits(other_pixels), atol=1e-3)
