import numpy as np
import pytest
import torch

from hfnet.distillation.selector import (
    average_predictions,
    gaussian_noise,
    occlude,
    select_predictions,
    train_selector,
)
from hfnet.errors import HfnetError


def _arrays(split):
    x = np.stack([np.asarray(im.convert("L"), dtype=np.float32) for im in split["image"]]) / 255.0
    return torch.from_numpy(x), torch.tensor(split["label"])


def _fit(x, y, steps=80):
    torch.manual_seed(0)
    model = torch.nn.Linear(x.shape[1], 10)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model


@pytest.fixture(scope="module")
def halves(digits):
    """Two modalities of the real digits: the left and the right half (8 x 4 pixels each)."""
    (xtr, ytr), (xte, yte) = _arrays(digits["train"]), _arrays(digits["test"])
    models = [_fit(xtr[:, :, :4].flatten(1), ytr), _fit(xtr[:, :, 4:].flatten(1), ytr)]
    return xtr, ytr, xte, yte, models


def _probs(models, x, degraded, sigma, seed):
    g = torch.Generator().manual_seed(seed)
    noisy = gaussian_noise(x, sigma, g)
    out = []
    for m, (lo, hi) in enumerate(((0, 4), (4, 8))):
        view = torch.where((degraded == m)[:, None, None], noisy, x)[:, :, lo:hi]
        with torch.no_grad():
            out.append(models[m](view.flatten(1)).softmax(1))
    return out


def test_selector_picks_the_clean_modality_and_beats_averaging(halves):
    xtr, ytr, xte, yte, models = halves
    g = torch.Generator().manual_seed(0)
    deg_tr = torch.randint(0, 2, (len(ytr),), generator=g)
    selector = train_selector(_probs(models, xtr, deg_tr, 1.0, 1), 1 - deg_tr, epochs=15)
    deg_te = torch.randint(0, 2, (len(yte),), generator=g)
    probs = _probs(models, xte, deg_te, 1.0, 2)
    pred, chosen = select_predictions(selector, probs)
    assert (chosen == 1 - deg_te).float().mean() > 0.8  # chance: 0.5
    acc_sel = (pred == yte).float().mean()
    acc_avg = (average_predictions(probs) == yte).float().mean()
    assert acc_sel > acc_avg
    # the selected classifier's answer is used as is
    stacked = torch.stack(probs, 1)
    torch.testing.assert_close(pred, stacked[torch.arange(len(yte)), chosen].argmax(1))


def test_occlude_and_noise_levels():
    x = torch.rand(4, 1, 8, 8)
    assert torch.equal(occlude(x, 0.0), x)
    full = occlude(x, 1.0, region=(0, 4, 8, 4))
    assert torch.all(full[..., 4:] == 0) and torch.equal(full[..., :4], x[..., :4])
    quarter = occlude(x + 0.1, 0.25, torch.Generator().manual_seed(0))  # no zero pixels before occlusion
    for image in quarter[:, 0]:
        rows, cols = torch.nonzero(image == 0, as_tuple=True)
        assert len(rows) == 16  # one 4x4 square (a quarter of 8x8) per image
        assert rows.max() - rows.min() == 3 and cols.max() - cols.min() == 3
    assert len({tuple(torch.nonzero(im[0] == 0)[0].tolist()) for im in quarter}) > 1  # placed at random
    assert torch.equal(gaussian_noise(x, 0.0), x)
    assert gaussian_noise(x, 5.0).min() >= 0 and gaussian_noise(x, 5.0).max() <= 1
    with pytest.raises(HfnetError, match="fraction"):
        occlude(x, 1.5)


def test_selector_needs_two_modalities():
    with pytest.raises(HfnetError, match="two modalities"):
        train_selector([torch.rand(5, 3)], torch.zeros(5, dtype=torch.long))
