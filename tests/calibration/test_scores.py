"""Per-sample loss, Brier score and probabilities at a temperature, against references.

* loss: PyTorch ``cross_entropy(z / T, reduction="none")`` in float64 (from the
  widened input values), scikit-learn's ``log_loss``, and mpmath at 50 digits
  for losses far below float64's epsilon (huge margins);
* Brier: scikit-learn's ``brier_score_loss`` (binary: ``(p - y)^2``, half our
  two-class sum; multiclass: the mean of ``sum_k (p_k - onehot_k)^2``) and the
  direct formula on ``scipy.special.softmax``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from predaudit.calibration import (
    base_scores,
    brier_score,
    loss_at_temperature,
    scaled_probabilities,
)

RNG = np.random.default_rng(5)


def _logits(n=500, c=7, scale=3.0):
    return RNG.normal(size=(n, c)) * scale, RNG.integers(0, c, n)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("t", [0.01, 0.5, 1.0, 3.0, 100.0])
def test_loss_matches_torch_cross_entropy(dtype, t):
    import torch

    z, y = _logits()
    z = z.astype(dtype)
    y[::7] = -100
    got = loss_at_temperature(z, y, temperature=t)
    ref = torch.nn.functional.cross_entropy(
        torch.from_numpy(z.astype(np.float64)) / t,
        torch.from_numpy(y),
        reduction="none",
        ignore_index=-100,
    ).numpy()
    keep = y != -100
    assert np.isnan(got[~keep]).all()
    # torch takes logsumexp(s) - s_y: a loss below ~eps * |s| cancels to 0 there (ours keeps
    # it, see the mpmath test), so allow that absolute error per row.
    scale = np.abs(z.astype(np.float64) / t).max(axis=1)[keep] + 1.0
    err = np.abs(got[keep] - ref[keep])
    assert np.all(err <= 1e-12 * np.abs(ref[keep]) + 4 * np.finfo(float).eps * scale)


def test_mean_loss_matches_sklearn_log_loss():
    from scipy import special
    from sklearn.metrics import log_loss

    z, y = _logits()
    for t in (0.7, 2.0):
        p = special.softmax(z / t, axis=1)
        ref = log_loss(y, p, labels=range(z.shape[1]))
        assert loss_at_temperature(z, y, temperature=t).mean() == pytest.approx(ref, rel=1e-10)


def test_tiny_losses_keep_their_relative_precision():
    import mpmath

    mpmath.mp.dps = 50
    z = np.array([[40.0, 0.0, -3.0], [0.0, 700.0, 650.0], [1e-3, 0.0, 0.0]])
    y = np.array([0, 1, 0])
    for t in (1.0, 0.5):
        got = loss_at_temperature(z, y, temperature=t)
        for i in range(3):
            s = [mpmath.mpf(float(v)) / mpmath.mpf(t) for v in z[i]]
            ref = mpmath.log(sum(mpmath.exp(v) for v in s)) - s[y[i]]
            assert got[i] == pytest.approx(float(ref), rel=1e-13)


def test_brier_matches_sklearn_and_the_direct_formula():
    from scipy import special
    from sklearn import metrics

    z, y = _logits(c=4)
    for t in (1.0, 2.5):
        p = special.softmax(z / t, axis=1)
        direct = np.sum((p - np.eye(4)[y]) ** 2, axis=1)
        got = brier_score(z, y, temperature=t)
        np.testing.assert_allclose(got, direct, rtol=1e-12, atol=1e-15)
        ref = metrics.brier_score_loss(y, p, labels=range(4))
        assert got.mean() == pytest.approx(ref, rel=1e-12)
    # binary, one probability per sample: half of our two-class sum is (p - y)^2
    p1 = RNG.random(300)
    yb = (RNG.random(300) < p1).astype(np.int64)
    got_b = brier_score(p1, yb, kind="probs")
    assert (got_b / 2).mean() == pytest.approx(metrics.brier_score_loss(yb, p1), rel=1e-12)
    y_ign = yb.copy()
    y_ign[0] = -100
    assert np.isnan(brier_score(p1, y_ign, kind="probs")[0])


def test_one_score_per_sample_is_the_two_class_model():
    """A logit z is the pair [0, z]: loss log(1 + e^{-z}) for y = 1, log(1 + e^{z}) for 0."""
    z = RNG.normal(size=200) * 5
    y = RNG.integers(0, 2, 200)
    ref = np.where(y == 1, np.logaddexp(0, -z / 2), np.logaddexp(0, z / 2))
    np.testing.assert_allclose(loss_at_temperature(z, y, temperature=2.0), ref, rtol=1e-12)
    p = 1 / (1 + np.exp(-z))
    lp = -np.logaddexp(0, -z)
    for kind, s in (("probs", p), ("log_probs", lp)):
        np.testing.assert_allclose(
            loss_at_temperature(s, y, temperature=2.0, kind=kind), ref, rtol=1e-9
        )


def test_probabilities_floor_zero_at_the_smallest_normal():
    """p_y = 0 in float32: loss = -log(tiny32) = 126 log 2 (tiny32 = 2^-126) at T = 1."""
    p = np.array([[1.0, 0.0]], dtype=np.float32)
    loss = loss_at_temperature(p, np.array([1]), temperature=1.0, kind="probs")
    assert loss[0] == pytest.approx(126 * math.log(2), rel=1e-12)
    z = base_scores(p, kind="probs")
    assert z[0, 1] == math.log(2.0**-126)
    z64 = base_scores(p.astype(np.float64), kind="probs")
    assert z64[0, 1] == math.log(2.0**-1022)


def test_log_probs_are_logits():
    from scipy import special

    z, y = _logits()
    lp = special.log_softmax(z, axis=1)
    for t in (0.3, 4.0):
        np.testing.assert_allclose(
            loss_at_temperature(lp, y, temperature=t, kind="log_probs"),
            loss_at_temperature(z, y, temperature=t),
            rtol=1e-10,
        )
        np.testing.assert_allclose(
            scaled_probabilities(lp, temperature=t, kind="log_probs"),
            special.softmax(z / t, axis=1),
            rtol=1e-10,
            atol=1e-300,
        )


@pytest.mark.parametrize(
    "scores,kind",
    [
        (np.array([[0.0, np.nan]]), "logits"),
        (np.array([[0.0, np.inf]]), "log_probs"),
        (np.array([[0.5, -0.5]]), "probs"),
        (np.array([1.5]), "probs"),
        (np.array([["a", "b"]]), "logits"),
        (np.zeros((1, 2, 2)), "logits"),
        (np.zeros((1, 2)), "odds"),
    ],
)
def test_bad_scores_raise(scores, kind):
    with pytest.raises(ValueError):
        base_scores(scores, kind=kind)


def test_bad_labels_and_temperatures_raise():
    z = np.zeros((2, 3))
    for y in (np.array([0, 3]), np.array([0.0, 1.0]), np.array([0])):
        with pytest.raises(ValueError):
            loss_at_temperature(z, y, temperature=1.0)
    for t in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError):
            loss_at_temperature(z, np.array([0, 1]), temperature=t)
