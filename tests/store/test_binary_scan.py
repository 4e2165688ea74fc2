"""A single score per sample: the kind is decided over every epoch, and the scan stops at the
first epoch outside [0, 1] (logits whatever the rest holds), so a logits run is read once
before it is reduced. Losses are checked against PyTorch's binary cross-entropy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from predaudit.errors import InputError
from predaudit.io.arrays import arrays_layout
from predaudit.store.build import compute_split

E, N = 5, 400


def _labels() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 2, N)


def _bce_logits(s: np.ndarray, y: np.ndarray) -> np.ndarray:
    return torch.nn.functional.binary_cross_entropy_with_logits(
        torch.from_numpy(s).double(), torch.from_numpy(y).double(), reduction="none"
    ).numpy()


@pytest.mark.parametrize("outside_at", [0, 2, E - 1])
def test_logits_found_at_any_epoch(outside_at: int) -> None:
    """Epochs in [0, 1] before (and after) one epoch outside: logits for every epoch."""
    rng = np.random.default_rng(outside_at)
    y = _labels()
    s = rng.uniform(0.0, 1.0, (E, N)).astype(np.float32)
    s[outside_at, 7] = 3.5
    st = compute_split(arrays_layout(list(s), y))
    assert st.input_kind == "logits"
    for i in range(E):
        np.testing.assert_allclose(st.loss[i], _bce_logits(s[i], y), rtol=1e-6, atol=1e-12)


def test_probabilities_need_every_epoch_inside() -> None:
    rng = np.random.default_rng(9)
    y = _labels()
    p = rng.uniform(0.01, 0.99, (E, N))
    st = compute_split(arrays_layout(list(p), y))
    assert st.input_kind == "probs"
    ref = torch.nn.functional.binary_cross_entropy(
        torch.from_numpy(p[2]), torch.from_numpy(y).double(), reduction="none"
    ).numpy()
    np.testing.assert_allclose(st.loss[2], ref, rtol=1e-12)


def test_nan_after_the_scan_stopped_is_reported_at_its_epoch() -> None:
    """The scan stops at epoch 1 (logits); the reduction then finds the NaN of epoch 4."""
    rng = np.random.default_rng(5)
    s = rng.standard_normal((E, N)) * 4
    s[3, 11] = np.nan
    with pytest.raises(InputError) as info:
        compute_split(arrays_layout(list(s), _labels()))
    assert info.value.problem.startswith("1 logit is NaN at epoch 4")
