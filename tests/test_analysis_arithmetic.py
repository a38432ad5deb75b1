"""Seed 001's arithmetic-sequence task: pairing, targets and the two model shapes."""

from __future__ import annotations

import torch

from hfnet.analysis.arithmetic import NUM_TARGETS, DigitCNN, EndToEnd, FitConfig, arithmetic_pairs, fit, predict


def test_pairs_mirror_the_split_and_target_is_2b_minus_a():
    labels = torch.tensor([3, 0, 9, 4])
    images = labels.float().view(-1, 1, 1, 1).expand(-1, 1, 28, 28)
    x1, x2, a, b, y = arithmetic_pairs(images, labels)
    assert b.tolist() == [4, 9, 0, 3] and torch.equal(x2[:, 0, 0, 0], b.float())
    assert (y - 9).tolist() == [5, 18, -9, 2]
    assert y.min() >= 0 and y.max() < NUM_TARGETS


def test_models_shapes_and_cnn_has_16_filters():
    cnn = DigitCNN()
    assert cnn.conv.weight.shape == (16, 1, 3, 3)
    x = torch.zeros(5, 1, 28, 28)
    assert cnn(x).shape == (5, 10)
    assert EndToEnd()(x, x).shape == (5, NUM_TARGETS)


def test_fit_reduces_loss_on_a_learnable_task():
    torch.manual_seed(0)
    labels = torch.randint(0, 10, (64,))
    images = torch.zeros(64, 1, 28, 28)
    images[torch.arange(64), 0, labels * 2, :] = 1.0  # the digit is the row that is lit
    cnn = DigitCNN()
    losses = fit(cnn, (images,), labels, FitConfig(epochs=15, batch_size=16, learning_rate=3e-3, optimizer="adam"))
    assert losses[-1] < losses[0] * 0.5
    assert (predict(cnn, (images,)) == labels).float().mean() > 0.8
