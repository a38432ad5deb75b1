import math

import pytest
import torch
import torch.nn.functional as F

from hfnet.distillation.losses import hard_loss, hint_loss, kd_loss, kd_loss_terms, merit_weights, soft_loss


@pytest.fixture
def logits():
    g = torch.Generator().manual_seed(0)
    student = torch.randn(6, 5, generator=g)
    teacher = torch.randn(6, 5, generator=g) * 3
    labels = torch.tensor([0, 1, 2, 3, 4, 0])
    return student, teacher, labels


def test_kd_loss_equals_hand_formula(logits):
    student, teacher, labels = logits
    t, a = 3.0, 0.7
    total = 0.0
    for s_row, t_row, y in zip(student.tolist(), teacher.tolist(), labels.tolist()):
        # plain-Python softmaxes, so the check does not reuse torch's KL/CE code
        zs = [math.exp(v) for v in s_row]
        ce = -math.log(zs[y] / sum(zs))
        ps = [math.exp(v / t) for v in s_row]
        pt = [math.exp(v / t) for v in t_row]
        ps = [v / sum(ps) for v in ps]
        pt = [v / sum(pt) for v in pt]
        kl = sum(p * math.log(p / q) for p, q in zip(pt, ps))
        total += (1 - a) * ce + a * t * t * kl
    expected = total / len(labels)
    assert kd_loss(student, teacher, labels, temperature=t, alpha=a).item() == pytest.approx(expected, rel=1e-5)


def test_kd_loss_zero_for_identical_logits_at_alpha_one(logits):
    student, _, labels = logits
    assert kd_loss(student, student.clone(), labels, temperature=4.0, alpha=1.0).item() == pytest.approx(0.0, abs=1e-6)


def test_kd_loss_is_cross_entropy_at_alpha_zero(logits):
    student, teacher, labels = logits
    got = kd_loss(student, teacher, labels, temperature=4.0, alpha=0.0)
    assert got.item() == pytest.approx(F.cross_entropy(student, labels).item(), rel=1e-6)


def test_soft_loss_scales_with_t_squared_and_is_positive(logits):
    student, teacher, _ = logits
    soft = soft_loss(student, teacher, temperature=2.0)
    assert soft.shape == (6,)
    assert bool((soft > 0).all())
    kl = F.kl_div(F.log_softmax(student / 2, -1), F.log_softmax(teacher / 2, -1), log_target=True, reduction="none")
    torch.testing.assert_close(soft, 4.0 * kl.sum(-1))


def test_kd_loss_gradient_only_reaches_student(logits):
    student, teacher, labels = logits
    student = student.clone().requires_grad_(True)
    teacher = teacher.clone().requires_grad_(True)
    kd_loss(student, teacher, labels, 4.0, 0.5).backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    assert teacher.grad is None


def test_kd_loss_terms_with_per_sample_alpha(logits):
    student, teacher, labels = logits
    alpha = torch.tensor([0.0, 1.0, 0.5, 0.5, 0.2, 0.9])
    terms = kd_loss_terms(student, teacher, labels, 2.0, alpha)
    hard = hard_loss(student, labels)
    soft = soft_loss(student, teacher, 2.0)
    torch.testing.assert_close(terms["loss"], ((1 - alpha) * hard + alpha * soft).mean())
    torch.testing.assert_close(terms["hard"], hard.mean())
    torch.testing.assert_close(terms["soft"], soft.mean())


@pytest.mark.parametrize("temperature", [0.0, -1.0])
def test_temperature_must_be_positive(logits, temperature):
    student, teacher, labels = logits
    with pytest.raises(ValueError, match="temperature must be > 0"):
        kd_loss(student, teacher, labels, temperature=temperature, alpha=0.5)


def test_kd_loss_rejects_bad_alpha_and_shapes(logits):
    student, teacher, labels = logits
    with pytest.raises(ValueError, match="alpha"):
        kd_loss(student, teacher, labels, 4.0, 1.5)
    with pytest.raises(ValueError, match="same classes"):
        kd_loss(student, teacher[:, :4], labels, 4.0, 0.5)


def test_merit_weights_move_the_right_way():
    # teacher right on samples 0 and 2, wrong on 1 and 3
    teacher = torch.tensor([[5.0, 0.0], [5.0, 0.0], [0.0, 5.0], [0.0, 5.0]])
    labels = torch.tensor([0, 1, 1, 0])
    w = merit_weights(teacher, labels, alpha=0.5, delta=0.1)
    torch.testing.assert_close(w, torch.tensor([0.6, 0.4, 0.6, 0.4]))
    # right -> more soft weight than fixed alpha, wrong -> more hard weight; clipped to [0, 1]
    assert merit_weights(teacher, labels, alpha=0.95, delta=0.2).max().item() == 1.0
    assert merit_weights(teacher, labels, alpha=0.05, delta=0.2).min().item() == 0.0
    # on a sample the teacher gets wrong, merit weighting pushes the student harder towards the true label
    student = torch.zeros(4, 2, requires_grad=True)
    kd_loss(student, teacher, labels, 1.0, 0.5).backward()
    fixed_grad = student.grad.clone()
    student.grad = None
    kd_loss(student, teacher, labels, 1.0, w).backward()
    # gradient descent raises logit y by -grad[y]; sample 1 (label 1, teacher says 0)
    assert -student.grad[1, 1] > -fixed_grad[1, 1]


def test_merit_weights_reject_negative_delta():
    with pytest.raises(ValueError, match="delta"):
        merit_weights(torch.zeros(2, 3), torch.tensor([0, 1]), 0.5, -0.1)


def test_hint_loss_zero_when_equal_and_shape_checked():
    x = torch.randn(2, 4, 3, 3)
    assert hint_loss(x, x.clone()).item() == 0.0
    assert hint_loss(x, x + 1).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="shape"):
        hint_loss(x, x[:, :2])


# ---------------------------------------------------------------------- unlabelled transfer set (label -100)
def _hand_terms(student, teacher, labels, t, alphas):
    """Plain-Python per-sample CE and T^2 KL, and the masked KD loss: -100 -> soft term only, weight 1."""
    loss, hards, softs = 0.0, [], []
    for s_row, t_row, y, a in zip(student.tolist(), teacher.tolist(), labels.tolist(), alphas):
        ps = [math.exp(v / t) for v in s_row]
        pt = [math.exp(v / t) for v in t_row]
        ps = [v / sum(ps) for v in ps]
        pt = [v / sum(pt) for v in pt]
        kl = t * t * sum(p * math.log(p / q) for p, q in zip(pt, ps))
        softs.append(kl)
        if y == -100:
            loss += kl
            continue
        zs = [math.exp(v) for v in s_row]
        ce = -math.log(zs[y] / sum(zs))
        hards.append(ce)
        loss += (1 - a) * ce + a * kl
    return loss / len(alphas), hards, softs


@pytest.mark.parametrize("per_sample", [False, True])
def test_unlabelled_samples_get_the_soft_term_only(logits, per_sample):
    student, teacher, labels = logits
    labels = labels.clone()
    labels[[1, 4]] = -100
    alpha = torch.tensor([0.3, 0.0, 0.6, 0.2, 0.0, 0.9]) if per_sample else 0.3
    alphas = alpha.tolist() if per_sample else [alpha] * 6
    expected, hards, softs = _hand_terms(student, teacher, labels, 2.0, alphas)
    terms = kd_loss_terms(student, teacher, labels, 2.0, alpha)
    assert terms["loss"].item() == pytest.approx(expected, rel=1e-5)
    assert terms["hard"].item() == pytest.approx(sum(hards) / 4, rel=1e-5)  # labelled samples only
    assert terms["soft"].item() == pytest.approx(sum(softs) / 6, rel=1e-5)
    used = [1.0 if y == -100 else a for y, a in zip(labels.tolist(), alphas)]
    assert terms["alpha"].item() == pytest.approx(sum(used) / 6, rel=1e-6)
    assert terms["labeled"].item() == pytest.approx(4 / 6)


def test_unlabelled_samples_carry_no_hard_gradient(logits):
    # at alpha 0 a labelled sample is plain CE; an unlabelled one still follows the teacher, never a label
    student, teacher, labels = logits
    labels = torch.full_like(labels, -100)
    s = student.clone().requires_grad_(True)
    kd_loss(s, teacher, labels, 2.0, 0.0).backward()
    s2 = student.clone().requires_grad_(True)
    soft_loss(s2, teacher, 2.0).mean().backward()
    torch.testing.assert_close(s.grad, s2.grad)


def test_all_unlabelled_batch_is_the_soft_term(logits):
    student, teacher, labels = logits
    labels = torch.full_like(labels, -100)
    for alpha in (0.0, 0.3, torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])):
        terms = kd_loss_terms(student, teacher, labels, 3.0, alpha)
        torch.testing.assert_close(terms["loss"], soft_loss(student, teacher, 3.0).mean())
        assert terms["hard"].item() == 0.0
        assert terms["alpha"].item() == 1.0
        assert terms["labeled"].item() == 0.0
    assert hard_loss(student, labels).abs().sum().item() == 0.0


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.7, 1.0, "tensor"])
def test_no_unlabelled_sample_gives_the_old_loss_exactly(logits, alpha):
    student, teacher, labels = logits
    if alpha == "tensor":
        alpha = torch.tensor([0.0, 1.0, 0.5, 0.5, 0.2, 0.9])
    hard = F.cross_entropy(student, labels, reduction="none")
    soft = soft_loss(student, teacher, 4.0)
    old = ((1 - alpha) * hard + alpha * soft).mean()
    terms = kd_loss_terms(student, teacher, labels, 4.0, alpha)
    assert torch.equal(terms["loss"], old)
    assert torch.equal(terms["hard"], hard.mean())
    assert terms["labeled"].item() == 1.0
    mean_alpha = alpha.mean() if isinstance(alpha, torch.Tensor) else torch.tensor(float(alpha))
    assert terms["alpha"].item() == pytest.approx(mean_alpha.item())


def test_merit_weights_leave_unlabelled_samples_at_one():
    teacher = torch.tensor([[5.0, 0.0], [5.0, 0.0], [0.0, 5.0], [0.0, 5.0]])
    labels = torch.tensor([0, -100, 1, -100])
    torch.testing.assert_close(
        merit_weights(teacher, labels, alpha=0.5, delta=0.1), torch.tensor([0.6, 1.0, 0.6, 1.0])
    )
    torch.testing.assert_close(
        merit_weights(teacher, labels, alpha=0.2, delta=0.0), torch.tensor([0.2, 1.0, 0.2, 1.0])
    )


def test_other_negative_labels_are_not_unlabelled(logits):
    student, teacher, labels = logits
    labels = labels.clone()
    labels[0] = -1
    with pytest.raises((IndexError, RuntimeError)):
        kd_loss(student, teacher, labels, 4.0, 0.5)


def test_kd_loss_defaults_are_hintons_t4_and_half_weight(logits):
    student, teacher, labels = logits
    assert torch.equal(kd_loss(student, teacher, labels), kd_loss(student, teacher, labels, 4.0, 0.5))


def test_per_sample_alpha_checked_and_cast(logits):
    student, teacher, labels = logits
    with pytest.raises(ValueError, match=r"alpha must be a scalar or have shape \(6,\), got \(3,\)"):
        kd_loss_terms(student, teacher, labels, 2.0, torch.full((3,), 0.5))
    with pytest.raises(ValueError, match=r"alpha values must lie in \[0, 1\]"):
        kd_loss_terms(student, teacher, labels, 2.0, torch.tensor([0.5, 0.5, 1.5, 0.5, 0.5, 0.5]))
    with pytest.raises(ValueError, match=r"alpha values must lie in \[0, 1\]"):
        kd_loss_terms(student, teacher, labels, 2.0, torch.tensor([0.5, -0.1, 0.5, 0.5, 0.5, 0.5]))
    terms = kd_loss_terms(student, teacher, labels, 2.0, torch.full((6,), 0.25, dtype=torch.float64))
    assert terms["loss"].dtype == torch.float32  # alpha follows the losses' dtype
    torch.testing.assert_close(terms["loss"], kd_loss(student, teacher, labels, 2.0, 0.25))


def test_hard_term_logged_over_the_one_labelled_sample(logits):
    student, teacher, labels = logits
    labels = torch.full_like(labels, -100)
    labels[2] = 3
    terms = kd_loss_terms(student, teacher, labels, 2.0, 0.5)
    expected = F.cross_entropy(student[2:3], labels[2:3])
    torch.testing.assert_close(terms["hard"], expected)
    assert terms["labeled"].item() == pytest.approx(1 / 6)


def test_merit_weights_accept_the_range_ends_and_reject_outside():
    teacher = torch.tensor([[5.0, 0.0], [0.0, 5.0]])
    labels = torch.tensor([0, 0])
    torch.testing.assert_close(merit_weights(teacher, labels, 0.0, 0.1), torch.tensor([0.1, 0.0]))
    torch.testing.assert_close(merit_weights(teacher, labels, 1.0, 0.1), torch.tensor([1.0, 0.9]))
    for alpha in (-0.1, 1.1):
        with pytest.raises(ValueError, match=r"alpha must lie in \[0, 1\], got"):
            merit_weights(teacher, labels, alpha, 0.1)
    with pytest.raises(ValueError, match="merit delta must be >= 0, got -0.1"):
        merit_weights(teacher, labels, 0.5, -0.1)
    assert merit_weights(teacher, labels, 0.5, 0.0).dtype == torch.float32
