"""Seed 001's task: from two MNIST digits a, b predict the third term of the arithmetic sequence, 2b - a.

model-1 trains two digit CNNs, then an LSTM on their predicted labels; model-2 feeds the two CNNs' outputs straight
into the LSTM and trains everything end to end. The seed then compares the CNNs' first-conv filters (16 filters,
Euclidean distance ``E_ij``, ``S_i = min_j E_ij``) within and between the two models.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

logger = logging.getLogger(__name__)

NUM_TARGETS = 28  # 2b - a ranges over -9..18


def arithmetic_pairs(images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Pair every image with the image at the mirrored position (the split joined with its reversed order).

    Returns ``(x1, x2, a, b, target)`` with ``target = 2b - a + 9`` as a class index in ``[0, 28)``.
    """
    rev = torch.flip(torch.arange(len(labels)), dims=[0])
    x1, x2, a, b = images, images[rev], labels, labels[rev]
    return x1, x2, a, b, 2 * b - a + 9


class DigitCNN(nn.Module):
    """Seed 001's CNN: 16 3x3 filters, ReLU, 2x2 max pooling, dropout 0.25, a dense layer to 10 digits."""

    def __init__(self, filters: int = 16, image_size: int = 28) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, filters, 3)
        self.dropout = nn.Dropout(0.25)
        side = (image_size - 2) // 2
        self.fc = nn.Linear(filters * side * side, 10)

    def forward(self, x: Tensor) -> Tensor:
        x = F.max_pool2d(F.relu(self.conv(x)), 2)
        return self.fc(torch.flatten(self.dropout(x), 1))


class SequenceLSTM(nn.Module):
    """An LSTM reading the two terms (10-d vectors: one-hot labels or CNN outputs) and classifying 2b - a."""

    def __init__(self, input_size: int = 10, hidden_size: int = 64) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, NUM_TARGETS)

    def forward(self, seq: Tensor) -> Tensor:
        out, _ = self.lstm(seq)
        return self.head(out[:, -1])


class EndToEnd(nn.Module):
    """model-2: two CNNs whose 10-d outputs form the LSTM's input sequence, trained jointly."""

    def __init__(self, hidden_size: int = 64) -> None:
        super().__init__()
        self.cnn1, self.cnn2 = DigitCNN(), DigitCNN()
        self.lstm = SequenceLSTM(10, hidden_size)

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return self.lstm(torch.stack([self.cnn1(x1), self.cnn2(x2)], dim=1))


@dataclass
class FitConfig:
    """Seed 001 trains with batch 128, 100 epochs, cross-entropy, SGD lr 0.01; recipes shrink epochs."""

    epochs: int = 100
    batch_size: int = 128
    learning_rate: float = 0.01
    optimizer: str = "sgd"
    seed: int = 0


def fit(model: nn.Module, inputs: tuple[Tensor, ...], targets: Tensor, config: FitConfig) -> list[float]:
    """Minibatch cross-entropy training; returns the mean loss per epoch."""
    g = torch.Generator().manual_seed(config.seed)
    if config.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=config.learning_rate)
    elif config.optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    else:
        raise ValueError(f"optimizer must be sgd or adam, got {config.optimizer}")
    model.train()
    losses = []
    n = len(targets)
    for epoch in range(config.epochs):
        order = torch.randperm(n, generator=g)
        total = 0.0
        for start in range(0, n, config.batch_size):
            idx = order[start : start + config.batch_size]
            loss = F.cross_entropy(model(*(x[idx] for x in inputs)), targets[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / n)
        logger.info("epoch %d: loss %.4f", epoch + 1, losses[-1])
    model.eval()
    return losses


@torch.no_grad()
def predict(model: nn.Module, inputs: tuple[Tensor, ...], batch_size: int = 1024) -> Tensor:
    model.eval()
    n = len(inputs[0])
    return torch.cat([model(*(x[s : s + batch_size] for x in inputs)) for s in range(0, n, batch_size)]).argmax(1)


def one_hot_sequence(a: Tensor, b: Tensor) -> Tensor:
    """The LSTM input of model-1: the two (predicted) labels one-hot, ``[N, 2, 10]``."""
    return torch.stack([F.one_hot(a, 10).float(), F.one_hot(b, 10).float()], dim=1)
