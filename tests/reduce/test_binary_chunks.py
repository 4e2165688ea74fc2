"""The binary reduction in chunks on the pool: against torch, and independent of the chunking."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import torch

from predaudit.reduce import reduce_scores

F = torch.nn.functional
FIELDS = ("loss", "pred", "correct", "p_true", "confidence", "margin")


def binary_logits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    s = rng.standard_normal(n) * rng.choice([0.5, 4.0, 40.0], size=n)
    s[::997] = 0.0
    s[::1009] = -0.0
    return s, rng.integers(0, 2, n)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_many_chunks_match_torch_and_one_chunk(dtype: type) -> None:
    s, y = binary_logits(100_003, seed=1)  # four default chunks and a short one
    s = s.astype(dtype)
    st = reduce_scores(s, y, kind="logits")
    one = reduce_scores(s, y, kind="logits", chunk_rows=s.size, threads=1)
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(st, f), getattr(one, f), err_msg=f)
    t = torch.from_numpy(s.astype(np.float64))
    ref = F.binary_cross_entropy_with_logits(t, torch.from_numpy(y).double(), reduction="none")
    # torch's float64 loses the relative precision of tiny losses (a cancellation of
    # size |s|): 16 eps max|s| of slack, as in test_reduce.py; mpmath checks those rows
    atol = 16 * np.finfo(np.float64).eps * float(np.abs(s).max())
    np.testing.assert_allclose(st.loss, ref.numpy(), rtol=1e-6, atol=atol)
    tiny = np.flatnonzero(st.loss < 1e-9)[:40]
    assert tiny.size == 40
    mpmath.mp.dps = 40
    for i in tiny:
        z = mpmath.mpf(float(s[i])) * (1 if y[i] == 1 else -1)
        exact = float(mpmath.log1p(mpmath.exp(-z)))
        assert st.loss[i] == pytest.approx(exact, rel=1e-12, abs=0), i
    z = torch.where(torch.from_numpy(y) == 1, t, -t)  # p_y = sigmoid(z), without 1 - p
    np.testing.assert_allclose(st.p_true, torch.sigmoid(z).numpy(), rtol=1e-12)
    np.testing.assert_allclose(st.confidence, torch.sigmoid(t.abs()).numpy(), rtol=1e-12)
    np.testing.assert_array_equal(st.pred, s > 0)
    np.testing.assert_array_equal(st.margin, np.where(y == 1, s, -s).astype(np.float64))


def test_a_bad_value_in_one_chunk_fills_every_chunk() -> None:
    s, y = binary_logits(70_000, seed=2)
    s[40_000] = np.nan
    st = reduce_scores(s, y, kind="logits", threads=2)
    assert st.n_nonfinite == 1
    assert np.isnan(st.loss).all() and not st.pred.any()
