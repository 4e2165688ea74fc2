"""The binary logit kernel's plain path (finite logits, index labels, no clip) on random and
adversarial values: against torch's BCE-with-logits and sigmoid in float64, mpmath where
torch loses digits, and bit for bit against the general branch it replaces."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import torch

from predaudit.dtypes import BF16
from predaudit.reduce import reduce_scores

F = torch.nn.functional
FIELDS = ("loss", "pred", "correct", "p_true", "confidence", "margin")


def adversarial(dtype: str, n: int = 20_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits in ``dtype`` (bfloat16 as float32 values it can hold) and 0/1 labels:
    zeros of both signs, ties, ±1e4, the extremes of the dtype, subnormals, and
    random values at several scales."""
    rng = np.random.default_rng(seed)
    top = {"float16": 65504.0, "bfloat16": 3.3e38, "float32": 3.4e38, "float64": 1.7e308}[dtype]
    special = [0.0, -0.0, 1e4, -1e4, top, -top, 1e-45, -1e-45, 1e-30, 36.7, -36.7, 745.2]
    special += [-745.2, 708.0, -708.0, 17.0, -17.0, 88.7, -88.7, 103.9, -103.9]
    s = rng.standard_normal(n) * rng.choice([1e-3, 0.5, 4.0, 40.0, 1e3], size=n)
    s[: len(special) * 2] = np.repeat(special, 2)  # each special with both labels
    s[len(special) * 2 : len(special) * 2 + 200] = 2.5  # ties
    s = np.clip(s, -top, top)
    y = rng.integers(0, 2, n)
    y[: len(special) * 2 : 2], y[1 : len(special) * 2 : 2] = 0, 1
    if dtype == "bfloat16":
        s32 = s.astype(np.float32)
        s32 = (s32.view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32)
        return s32, y
    return s.astype(dtype), y


def scores_of(s: np.ndarray, dtype: str) -> tuple[np.ndarray, str]:
    """The array predaudit reads: bfloat16 as its uint16 bit patterns."""
    if dtype == "bfloat16":
        return (s.view(np.uint32) >> 16).astype(np.uint16), BF16
    return s, ""


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_plain_path_matches_torch_and_mpmath(dtype: str) -> None:
    s, y = adversarial(dtype)
    raw, tag = scores_of(s, dtype)
    st = reduce_scores(raw, y, kind="logits", dtype=tag)
    t = torch.from_numpy(s.astype(np.float64))
    ref = F.binary_cross_entropy_with_logits(t, torch.from_numpy(y).double(), reduction="none")
    # torch's max(-s, 0) + log1p(exp(-|s|)) - ... cancels at large |s|: slack of 16 eps |s|
    atol = 16 * np.finfo(np.float64).eps * np.abs(s.astype(np.float64))
    assert np.all(np.abs(st.loss - ref.numpy()) <= 1e-12 * ref.numpy() + atol)
    z = torch.where(torch.from_numpy(y) == 1, t, -t)
    np.testing.assert_allclose(st.p_true, torch.sigmoid(z).numpy(), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(st.confidence, torch.sigmoid(t.abs()).numpy(), rtol=1e-12)
    np.testing.assert_array_equal(st.pred, s > 0)
    np.testing.assert_array_equal(st.correct, (s > 0) == (y == 1))
    np.testing.assert_array_equal(st.margin, np.where(y == 1, s, -s).astype(np.float64))
    assert (st.n_floored, st.n_clipped, st.n_nonfinite) == (0, 0, 0)
    # the exact loss log1p(exp(-z)), at 40 digits, on the first 300 rows (every special)
    mpmath.mp.dps = 40
    for i in range(2000):
        zi = mpmath.mpf(float(s[i])) * (1 if y[i] == 1 else -1)
        exact = float(mpmath.log1p(mpmath.exp(-zi)))
        assert st.loss[i] == pytest.approx(exact, rel=1e-13, abs=1e-320), (i, s[i], y[i])
        # sigma(z) from e = exp(-|s|): within a few ulps (exp(-loss) was within 1e-14)
        p = float(1 / (1 + mpmath.exp(-zi)))
        assert st.p_true[i] == pytest.approx(p, rel=1e-15, abs=1e-300), (i, s[i], y[i])
        conf = float(1 / (1 + mpmath.exp(-abs(zi))))
        assert st.confidence[i] == pytest.approx(conf, rel=1e-15), (i, s[i], y[i])


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_plain_path_is_the_general_branch_bit_for_bit(dtype: str) -> None:
    """A chunk holding a -inf takes the general branch: the same rows with and without one
    beside them in their chunk give the same numbers."""
    s, y = adversarial(dtype, n=5_000, seed=3)
    with_inf = np.concatenate([s, np.array([-np.inf], dtype=s.dtype)])
    y2 = np.concatenate([y, [1]])
    raw, tag = scores_of(with_inf, dtype)
    n = s.size
    general = reduce_scores(raw, y2, kind="logits", dtype=tag, chunk_rows=n + 1, threads=1)
    plain = reduce_scores(raw, y2, kind="logits", dtype=tag, chunk_rows=n, threads=1)
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(plain, f)[:n], getattr(general, f)[:n], err_msg=f)
        np.testing.assert_array_equal(getattr(plain, f)[n:], getattr(general, f)[n:], err_msg=f)
    assert general.n_floored == plain.n_floored == 1


def test_ignored_labels_in_the_plain_path() -> None:
    s, y = adversarial("float32", n=3_000, seed=5)
    y[::7] = -100
    st = reduce_scores(s, y, kind="logits", chunk_rows=1000, threads=2)
    keep = y != -100
    ref = reduce_scores(s[keep], y[keep], kind="logits")
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(st, f)[keep], getattr(ref, f), err_msg=f)
    assert np.isnan(st.loss[~keep]).all() and not st.correct[~keep].any()
