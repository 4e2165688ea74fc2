"""The fast temperature fit (prepared chunks) against a direct float64 reference.

References, independent of predaudit's kernel:

* ``T*``: ``scipy.optimize.minimize_scalar`` (bounded, on log T, ``xatol=1e-10``)
  of PyTorch's float64 ``cross_entropy(logits / T, ignore_index=-100)`` on the
  widened scores (a derivative-free minimiser: 1e-6 relative in T), and
  ``scipy.optimize.brentq`` on PyTorch's autograd derivative of that loss in
  log T (1e-8 relative);
* the per-sample loss at ``T*``: PyTorch's ``cross_entropy(reduction="none")``
  there (torch takes ``logsumexp(s) - s_y``, which cancels for tiny losses: the
  allowance is ``4 eps max|s|`` a row, as in test_scores);
* the Brier score at T = 1: ``sum_k (p_k - onehot_k)^2`` on ``scipy.special.softmax``;
* the per-chunk sums and derivatives: PyTorch autograd (first and second
  derivative in log T).

Rows: random logits of a model right on ~70% and overconfident, plus
adversarial rows: all scores tied, ties at the top (label on the first and on a
later tied class), ``-inf`` classes (the label elsewhere), ``±1e4`` (tiny and huge
losses), ignored samples (-100); stored as float64, float32, float16 and
bfloat16 (``uint16`` bit patterns, :mod:`predaudit.dtypes`); few classes (the
class-major layout), many (row-major) and one logit per sample.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import optimize, special

from predaudit.calibration.scores import CLASS_MAJOR_MAX, prepare_scores, prepared_moments
from predaudit.calibration.temperature import fit_temperature_with
from predaudit.dtypes import BF16, bf16_to_float32
from predaudit.reduce import calibrate
from predaudit.reduce.calibrate import calibrate_epoch

LOG_BOUNDS = (math.log(1e-3), math.log(1e3))


def _rows(n: int, c: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """float64 scores [n, c] (finite, or -inf off the label) and labels with -100s."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    pred = np.where(rng.random(n) < 0.7, y, rng.integers(0, c, n))
    z = rng.normal(size=(n, c)) * 2.0
    z[np.arange(n), pred] += 5.0
    z = np.round(z, 2)  # representable-ish in float16 too: more exact ties after rounding
    k = 0
    z[k], y[k] = 1.5, 2  # all tied
    k += 1
    z[k, :2], y[k] = 7.0, 0  # tied at the top, label on the first
    k += 1
    z[k, :2], y[k] = 7.0, 1  # tied at the top, label on the second
    k += 1
    z[k, -1], y[k] = 7.5, 0
    z[k, 0] = 7.5  # first and last tied, label first
    k += 1
    for _ in range(4):  # -inf classes, label elsewhere
        z[k, 1:] = np.where(rng.random(c - 1) < 0.5, -np.inf, z[k, 1:])
        y[k] = 0
        k += 1
    z[k, 0], y[k] = 1e4, 0  # tiny loss
    k += 1
    z[k, 0], z[k, 1], y[k] = 1e4, 1e4 + 0.5, 0  # wrong by 0.5 at 1e4: rounding far from 0
    k += 1
    z[k, 0], z[k, -1], y[k] = -1e4, 1e4, c - 1
    k += 1
    z[k, 0], z[k, 1:], y[k] = 1e4 - 1.0, 1e4, 1  # ties at 1e4 over a lower label... on top
    k += 1
    y[k : k + 5] = -100
    y[::11] = -100
    return z, y


def _store(z: np.ndarray, dtype: str) -> tuple[np.ndarray, str, np.ndarray]:
    """The scores as stored in ``dtype`` (bfloat16 as bit patterns) and their float64 values."""
    if dtype == BF16:
        t = torch.from_numpy(np.ascontiguousarray(z, dtype=np.float32)).to(torch.bfloat16)
        bits = t.view(torch.int16).numpy().view(np.uint16)
        return bits, BF16, bf16_to_float32(bits).astype(np.float64)
    x = z.astype(dtype)
    return x, "", x.astype(np.float64)


def _torch_nll(z: np.ndarray, y: np.ndarray, t: float, reduction: str = "mean"):
    out = torch.nn.functional.cross_entropy(
        torch.from_numpy(z) / t, torch.from_numpy(y), ignore_index=-100, reduction=reduction
    )
    return out.numpy() if reduction == "none" else float(out)


def _torch_grad(z: np.ndarray, y: np.ndarray, t: float) -> tuple[float, float]:
    """d mean NLL / dlogT and d² by autograd. (-inf as -1e300: its p is 0 either way, and
    autograd's backward through a -inf logit is 0 * inf = NaN.)"""
    u = torch.tensor(math.log(t), dtype=torch.float64, requires_grad=True)
    zf = torch.from_numpy(np.where(np.isneginf(z), -1e300, z))
    loss = torch.nn.functional.cross_entropy(
        zf / torch.exp(u), torch.from_numpy(y), ignore_index=-100
    )
    (g,) = torch.autograd.grad(loss, u, create_graph=True)
    (h,) = torch.autograd.grad(g, u)
    return g.item(), h.item()


def _scipy_tstar(z: np.ndarray, y: np.ndarray) -> float:
    res = optimize.minimize_scalar(
        lambda u: _torch_nll(z, y, math.exp(u)),
        bounds=LOG_BOUNDS,
        method="bounded",
        options={"xatol": 1e-10},
    )
    return math.exp(res.x)


def _brier_ref(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    keep = y != -100
    p = special.softmax(z[keep], axis=1)
    onehot = np.eye(z.shape[1])[y[keep]]
    out = np.full(y.size, np.nan)
    out[keep] = np.sum((p - onehot) ** 2, axis=1)
    return out


def _check_epoch(c, z64: np.ndarray, y: np.ndarray) -> None:
    """calibrate_epoch's result ``c`` against the references on the widened scores ``z64``."""
    keep = y != -100
    assert c.fit.status == "converged"
    assert c.temperature == pytest.approx(_scipy_tstar(z64, y), rel=1e-6)
    root = optimize.brentq(
        lambda u: _torch_grad(z64, y, math.exp(u))[0],
        math.log(c.temperature) - 0.3,
        math.log(c.temperature) + 0.3,
        xtol=1e-14,
    )
    assert c.temperature == pytest.approx(math.exp(root), rel=1e-8)
    ref = _torch_nll(z64, y, c.temperature, "none")
    assert np.isnan(c.loss_at_t[~keep]).all() and np.isnan(c.brier[~keep]).all()
    with np.errstate(invalid="ignore"):
        scale = np.nanmax(np.abs(np.where(np.isinf(z64), np.nan, z64)), axis=1) / c.temperature
    err = np.abs(c.loss_at_t[keep] - ref[keep])
    assert np.all(err <= 1e-12 * np.abs(ref[keep]) + 4 * np.finfo(float).eps * (scale[keep] + 1))
    assert c.fit.nll == pytest.approx(_torch_nll(z64, y, c.temperature), rel=1e-12)
    assert c.fit.nll_at_one == pytest.approx(_torch_nll(z64, y, 1.0), rel=1e-12)
    np.testing.assert_allclose(c.brier, _brier_ref(z64, y), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", BF16])
@pytest.mark.parametrize("classes", [3, 10, CLASS_MAJOR_MAX + 8])
def test_calibrate_epoch_matches_scipy_and_torch(dtype, classes, monkeypatch):
    z, y = _rows(1500, classes, seed=classes)
    x, dt, z64 = _store(z, dtype)
    calibrate_epoch_kept = calibrate_epoch(x, y, kind="logits", dtype=dt)
    _check_epoch(calibrate_epoch_kept, z64, y)
    # small chunks, prepared again each pass (nothing kept): the same numbers
    monkeypatch.setattr(calibrate, "_CHUNK_ELEMENTS", 97 * classes)
    monkeypatch.setattr(calibrate, "KEEP_BYTES", 0)
    streamed = calibrate_epoch(x, y, kind="logits", dtype=dt)
    _check_epoch(streamed, z64, y)
    assert streamed.fit.passes == calibrate_epoch_kept.fit.passes


def test_one_logit_per_sample_is_the_two_class_model():
    rng = np.random.default_rng(3)
    z = rng.normal(size=4000) * 4
    y = (rng.random(4000) < special.expit(z / 2.5)).astype(np.int64)
    z[:3] = [1e4, -1e4, 0.0]
    y[:3] = [1, 0, 0]  # tiny losses at ±1e4, a tie at 0
    y[5::9] = -100
    c = calibrate_epoch(z.astype(np.float32), y, kind="logits")
    pair = np.stack([np.zeros_like(z), z.astype(np.float32).astype(np.float64)], axis=1)
    _check_epoch(c, pair, y)


def test_a_given_temperature_gives_torchs_loss_there_and_the_brier_at_one():
    z, y = _rows(800, 7, seed=1)
    x, _, z64 = _store(z, "float32")
    c = calibrate_epoch(x, y, kind="logits", temperature=2.5)
    assert c.fit is None and c.temperature == 2.5
    keep = y != -100
    ref = _torch_nll(z64, y, 2.5, "none")
    np.testing.assert_allclose(c.loss_at_t[keep], ref[keep], rtol=1e-12, atol=1e-11)
    np.testing.assert_allclose(c.brier, _brier_ref(z64, y), rtol=1e-12, atol=1e-15)


def test_a_fit_that_stops_early_keeps_the_loss_of_the_point_it_returns():
    """not_converged returns the best point seen: its per-sample loss, not the last pass's."""
    z, y = _rows(600, 5, seed=2)
    x = z.astype(np.float32)
    for max_iter in (0, 1, 2):
        epoch = calibrate._Epoch(x, y, "logits", "", keep=True)
        fit = fit_temperature_with(epoch, max_iter=max_iter)
        assert fit.status == "not_converged"
        got = epoch.loss_at(fit.temperature)
        ref = _torch_nll(x.astype(np.float64), y, fit.temperature, "none")
        keep = y != -100
        np.testing.assert_allclose(got[keep], ref[keep], rtol=1e-12, atol=1e-11)
        assert np.nanmean(got) == pytest.approx(fit.nll, rel=1e-12)


@pytest.mark.parametrize("classes", [2, 10, 64, 1000])
@pytest.mark.parametrize("t", [0.05, 1.0, 3.0, 200.0])
def test_both_layouts_give_torchs_sums_and_derivatives(classes, t):
    """Class-major and row-major: the sums of torch's loss, autograd derivatives and scipy's
    entropy; per-sample loss and Brier score agree between the layouts to rounding."""
    z, y = _rows(400 if classes < 100 else 150, classes, seed=7)
    z = np.where(np.isinf(z), -1e300, z)  # as the reduction reads -inf (reduce.calibrate)
    keep = y != -100
    z64 = np.where(z == -1e300, -np.inf, z)
    loss = _torch_nll(z64, y, t) * keep.sum()
    g, h = _torch_grad(z64, y, t)
    p = special.softmax(z64[keep] / t, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.nansum(np.where(p > 0, p * np.log(p), 0.0))
    rows = {}
    for cm in (True, False):
        prep = prepare_scores(z, y, class_major=cm)
        assert prep.class_axis == (0 if cm else 1)
        assert prep.nbytes == prep.n * (8 * classes + 16) + y.size  # 8 C + 17 a counted sample
        mo = prepared_moments(prep, t, loss_rows=True, brier_rows=True)
        n = prep.n
        assert mo.loss == pytest.approx(loss, rel=1e-12)
        assert mo.grad / n == pytest.approx(g, rel=1e-9, abs=1e-14)
        assert mo.hess / n == pytest.approx(h, rel=1e-9, abs=1e-14)
        assert mo.entropy == pytest.approx(entropy, rel=1e-10)
        rows[cm] = (mo.loss_rows, mo.brier_rows)
    np.testing.assert_allclose(rows[True][0], rows[False][0], rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(rows[True][1], rows[False][1], rtol=1e-12, atol=1e-16)


def test_tiny_brier_scores_keep_their_relative_precision():
    """A confident right row: Brier ~ 2 p_rest^2, from two non-negative terms (mpmath)."""
    import mpmath

    mpmath.mp.dps = 50
    z = np.array([[30.0, 0.0, -2.0], [0.0, 50.0, 49.0]])
    y = np.array([0, 1])
    for cm in (True, False):
        mo = prepared_moments(prepare_scores(z, y, class_major=cm), 1.0, brier_rows=True)
        for i in range(2):
            e = [mpmath.exp(mpmath.mpf(float(v))) for v in z[i]]
            p = [v / sum(e) for v in e]
            ref = sum((p[k] - (1 if k == y[i] else 0)) ** 2 for k in range(3))
            assert mo.brier_rows[i] == pytest.approx(float(ref), rel=1e-13)
