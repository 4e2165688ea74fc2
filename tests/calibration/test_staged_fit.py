"""The staged temperature fit (subsample start, float32 steps, one float64 pass).

``calibrate_epoch`` fits ``T*`` in stages (:mod:`predaudit.calibration.coarse`); the
answer must be the full-data optimum of the float64 objective. References,
independent of predaudit's kernels:

* ``T*``: ``scipy.optimize.minimize_scalar`` (bounded, on log T, ``xatol=1e-12``)
  of PyTorch's float64 ``cross_entropy(z / T, ignore_index=-100)`` on the widened
  scores, to 1e-6 relative (a derivative-free minimiser), and ``brentq`` on
  PyTorch's autograd derivative in log T to 1e-8;
* the per-sample loss at ``T*`` (also when the last Newton step is taken by
  Taylor's formula): PyTorch's ``cross_entropy(reduction="none")`` at ``T*``, to
  1e-12 relative (plus the ``4 eps max|s|`` allowance for torch's cancellation);
* the float32 sums: PyTorch autograd's first to third (and fifth) derivative in
  log T, to float32 precision; each row's float64 derivatives, first to third;
* a fit at a bound: the plain float64 Newton fit (``fit_temperature_array``, itself
  pinned against scipy in test_temperature.py) and scipy's bounded minimiser.

Inputs: random rows (a model right on ~70%, overconfident), ``T*`` close to either
bound, beyond the lower bound (every sample right), one class (flat), ``-inf``
logits, ignored samples, float16 and bfloat16 storage; the epoch kept prepared,
kept as the scores themselves (``prepare_raw``), and prepared again every pass,
with the subsample start forced on small inputs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import optimize

from predaudit.calibration.coarse import coarse_moments, coarse_newton, prepare_raw
from predaudit.calibration.scores import prepare_scores, prepared_moments
from predaudit.calibration.temperature import TemperatureSums, fit_temperature_array
from predaudit.dtypes import BF16, bf16_to_float32
from predaudit.reduce import calibrate
from predaudit.reduce.calibrate import calibrate_epoch

LOG_BOUNDS = (math.log(1e-3), math.log(1e3))


def _logits(n: int, c: int, seed: int, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    pred = np.where(rng.random(n) < 0.7, y, rng.integers(0, c, n))
    z = rng.normal(size=(n, c)) * 2.0
    z[np.arange(n), pred] += 5.0
    return z * scale, y


def _torch_nll(z: np.ndarray, y: np.ndarray, t: float, reduction: str = "mean"):
    zf = torch.from_numpy(np.where(np.isneginf(z), -1e300, z))
    out = torch.nn.functional.cross_entropy(
        zf / t, torch.from_numpy(y), ignore_index=-100, reduction=reduction
    )
    return out.numpy() if reduction == "none" else float(out)


def _torch_derivatives(z: np.ndarray, y: np.ndarray, t: float, order: int = 3) -> list[float]:
    """Sums of dℓ/dlogT, d², .. (to ``order``) over the counted rows, by autograd."""
    u = torch.tensor(math.log(t), dtype=torch.float64, requires_grad=True)
    zf = torch.from_numpy(np.where(np.isneginf(z), -1e300, z))
    f = torch.nn.functional.cross_entropy(
        zf / torch.exp(u), torch.from_numpy(y), ignore_index=-100, reduction="sum"
    )
    out = []
    for k in range(order):
        (f,) = torch.autograd.grad(f, u, create_graph=k + 1 < order)
        out.append(f.item())
    return out


def _scipy_tstar(z: np.ndarray, y: np.ndarray) -> float:
    res = optimize.minimize_scalar(
        lambda u: _torch_nll(z, y, math.exp(u)),
        bounds=LOG_BOUNDS,
        method="bounded",
        options={"xatol": 1e-12},
    )
    return math.exp(res.x)


def _check_loss(loss: np.ndarray, z: np.ndarray, y: np.ndarray, t: float) -> None:
    keep = y != -100
    ref = _torch_nll(z, y, t, "none")
    assert np.isnan(loss[~keep]).all()
    with np.errstate(invalid="ignore"):
        scale = np.nanmax(np.abs(np.where(np.isinf(z), np.nan, z)), axis=1) / t
    err = np.abs(loss[keep] - ref[keep])
    assert np.all(err <= 1e-12 * np.abs(ref[keep]) + 4 * np.finfo(float).eps * (scale[keep] + 1))


MODES = ["kept", "raw", "again"]


def _calibrate(x, y, dtype, mode, monkeypatch, brier=False):
    """calibrate_epoch with the subsample start forced and chunks of 5 rows."""
    c = x.shape[1]
    monkeypatch.setattr(calibrate, "_SAMPLE_ELEMENTS", 40 * c)
    monkeypatch.setattr(calibrate, "_CHUNK_ELEMENTS", 5 * c)
    if mode != "kept":
        monkeypatch.setattr(calibrate, "KEEP_BYTES", 0)
    if mode == "again":  # not kept as the scores: prepared again at every pass
        monkeypatch.setattr(calibrate, "prepare_raw", lambda *a, **k: None)
    return calibrate_epoch(x, y, kind="logits", dtype=dtype, brier=brier)


def _store(z: np.ndarray, dtype: str) -> tuple[np.ndarray, str, np.ndarray]:
    if dtype == BF16:
        t = torch.from_numpy(np.ascontiguousarray(z, dtype=np.float32)).to(torch.bfloat16)
        bits = t.view(torch.int16).numpy().view(np.uint16)
        return bits, BF16, bf16_to_float32(bits).astype(np.float64)
    x = np.ascontiguousarray(z.astype(dtype))
    return x, "", x.astype(np.float64)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("dtype", "scale", "seed"),
    [
        ("float32", 1.0, 0),
        ("float64", 1.0, 1),
        ("float16", 1.0, 2),
        (BF16, 1.0, 3),
        ("float32", 1.6e-3, 4),  # T* about 2e-3, near the lower bound
        ("float32", 4e2, 5),  # T* about 500, near the upper bound
    ],
)
def test_staged_fit_is_scipys_optimum_and_torchs_loss(dtype, scale, seed, mode, monkeypatch):
    z, y = _logits(600, 64, seed, scale)
    y[::13] = -100
    z[5, 3:9] = -np.inf  # -inf classes off the label
    y[5] = 0
    x, dt, z64 = _store(z, dtype)
    c = _calibrate(x, y, dt, mode, monkeypatch, brier=mode == "kept")
    assert c.fit is not None and c.fit.status == "converged"
    assert c.temperature == pytest.approx(_scipy_tstar(z64, y), rel=1e-6)
    _assert_torchs_optimum(c, z64, y)
    if mode == "kept" or c.fit.nll_at_one is not None:  # a pass at T = 1 gives the NLL there
        assert c.fit.nll_at_one == pytest.approx(_torch_nll(z64, y, 1.0), rel=1e-12)
    if mode != "kept":
        assert np.isnan(c.brier).all()  # not asked for
    plain = fit_temperature_array(np.where(np.isneginf(z64), -1e300, z64), y)
    assert plain.status == "converged"
    assert c.temperature == pytest.approx(plain.temperature, rel=1e-9)


@pytest.mark.parametrize("mode", MODES)
def test_every_sample_right_ends_at_the_lower_bound_as_the_plain_fit(mode, monkeypatch):
    z, y = _logits(300, 64, 7)
    z[np.arange(300), y] = z.max(axis=1) + 3.0  # every label on top
    c = _calibrate(z.astype(np.float32), y, "", mode, monkeypatch)
    plain = fit_temperature_array(z.astype(np.float32), y)
    assert c.fit.status == plain.status == "lower_bound"
    assert c.temperature == plain.temperature == 1e-3
    z64 = z.astype(np.float32).astype(np.float64)
    # the NLL falls to 0 as T -> 0 (then is flat): scipy's minimum is no lower than this one
    assert _torch_nll(z64, y, c.temperature) <= _torch_nll(z64, y, _scipy_tstar(z64, y)) + 1e-300
    _check_loss(c.loss_at_t, z64, y, c.temperature)


@pytest.mark.parametrize("mode", MODES)
def test_temperature_beyond_the_lower_bound_stops_there(mode, monkeypatch):
    z, y = _logits(300, 64, 8, scale=1e-5)  # T* about 1e-5, below the bound
    x = z.astype(np.float32)
    c = _calibrate(x, y, "", mode, monkeypatch)
    plain = fit_temperature_array(x, y)
    assert c.fit.status == plain.status == "lower_bound"
    assert c.temperature == pytest.approx(plain.temperature, rel=1e-12)
    assert c.temperature == pytest.approx(_scipy_tstar(x.astype(np.float64), y), rel=1e-6)
    _check_loss(c.loss_at_t, x.astype(np.float64), y, c.temperature)


def test_one_class_and_tied_rows_are_flat_at_one(monkeypatch):
    z = np.zeros((300, 1), np.float32)
    y = np.zeros(300, np.int64)
    c = calibrate_epoch(z, y, kind="logits")
    assert (c.fit.status, c.temperature) == ("flat", 1.0)
    np.testing.assert_allclose(c.loss_at_t, 0.0, atol=0)
    z = np.full((300, 64), 2.5, np.float32)
    y = np.arange(300) % 64
    c = _calibrate(z, y, "", "raw", monkeypatch)
    assert (c.fit.status, c.temperature) == ("flat", 1.0)
    np.testing.assert_allclose(c.loss_at_t, math.log(64), rtol=1e-15)


@pytest.mark.parametrize("classes", [5, 64])
@pytest.mark.parametrize("t", [0.02, 0.7, 3.0, 300.0])
def test_float32_sums_are_torchs_derivatives(classes, t):
    z, y = _logits(400, classes, 9)
    y[::7] = -100
    x = z.astype(np.float32)
    z64 = x.astype(np.float64)
    preps = [prepare_scores(x, y, class_major=True), prepare_scores(x, y, class_major=False)]
    raw = prepare_raw(x, y, ignore_index=-100)
    if classes > 48:
        assert raw is not None
        preps.append(raw)
    for prep in preps:
        for order in (3, 5):
            te, g, h, higher = coarse_moments(prep, t, order=order)
            assert te == pytest.approx(t, rel=1e-7) and len(higher) == order - 2
            ref = _torch_derivatives(z64, y, te, order)
            scale = prep.n * (1.0 + np.abs(z64).max() / te)
            assert abs(g - ref[0]) <= 1e-6 * scale
            assert abs(h - ref[1]) <= 1e-5 * scale**2 / prep.n
            for k, (v, r) in enumerate(zip(higher, ref[2:], strict=True), start=3):
                assert v == pytest.approx(r, rel=1e-3, abs=1e-5 * scale**k / prep.n ** (k - 1))


def test_scores_kept_as_themselves_give_the_prepared_chunks_values_bit_for_bit():
    z, y = _logits(200, 80, 10)
    y[::9] = -100
    for dtype in (np.float32, np.float16):
        x = np.ascontiguousarray(z.astype(dtype))
        raw = prepare_raw(x, y, ignore_index=-100)
        prep = prepare_scores(x, y, class_major=False)
        assert raw is not None and raw.d0 is x  # a view, no copy
        for f in ("dy0", "valid"):
            np.testing.assert_array_equal(getattr(raw, f), getattr(prep, f))
        assert (raw.floor, raw.n_correct, raw.n_wrong, raw.n_varied) == (
            prep.floor,
            prep.n_correct,
            prep.n_wrong,
            prep.n_varied,
        )
        for t in (0.3, 1.0, 7.0):
            a = prepared_moments(raw, t, loss_rows=True, brier_rows=True, derivative_rows=True)
            b = prepared_moments(prep, t, loss_rows=True, brier_rows=True, derivative_rows=True)
            for f in ("loss_rows", "brier_rows", "grad_rows", "hess_rows"):
                np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
            assert (a.loss, a.grad, a.hess, a.entropy) == (b.loss, b.grad, b.hess, b.entropy)
    bad = z.astype(np.float32)
    bad[3, 4] = np.nan
    assert prepare_raw(bad, y, ignore_index=-100) is None  # prepare_scores raises on it
    bad[3, 4] = -np.inf
    assert prepare_raw(bad, y, ignore_index=-100) is None
    assert prepare_raw(z[:, :10].astype(np.float32), y, ignore_index=-100) is None


def test_derivative_rows_are_torchs():
    z, y = _logits(100, 7, 11)
    y[::5] = -100
    keep = y != -100
    for c, zc in ((7, z), (60, _logits(100, 60, 12)[0])):
        for prep in (
            prepare_scores(zc, y),
            prepare_raw(zc.astype(np.float32), y, ignore_index=-100),
        ):
            if prep is None:  # (7 classes: not kept as the scores)
                continue
            zr = zc.astype(np.float32).astype(np.float64) if prep.shift is not None else zc
            mo = prepared_moments(prep, 1.7, derivative_rows=True, third_rows=True)
            for i in np.flatnonzero(keep)[:10]:
                row = int(np.flatnonzero(keep).tolist().index(i))
                g, h, h3 = _torch_derivatives(zr[i : i + 1], y[i : i + 1], 1.7)
                assert mo.grad_rows[row] == pytest.approx(g, rel=1e-10, abs=1e-14), c
                assert mo.hess_rows[row] == pytest.approx(h, rel=1e-9, abs=1e-13), c
                assert mo.third_rows[row] == pytest.approx(h3, rel=1e-8, abs=1e-12), c


def test_the_float32_stage_bisects_where_not_convex_and_gives_up_at_a_bound():
    calls: list[float] = []

    def coarse(t: float):
        """A made-up objective: d² = 0 at T = 1, the minimum at T = e^-2; then beyond 1e3."""
        calls.append(t)
        u = math.log(t)
        g = u + 2.0 if u < -0.5 else 1.5
        h = 1.0 if u < -0.5 else 0.0
        sums = TemperatureSums(t, 10, math.nan, 10 * g, 10 * h, math.nan, 5, 3, 10)
        return sums, (0.0,)

    t, passes = coarse_newton(coarse, 1.0)
    assert t == pytest.approx(math.exp(-2.0), rel=1e-12)
    assert calls[0] == 1.0 and math.log(calls[1]) == pytest.approx(0.5 * math.log(1e-3))

    def beyond(t: float):
        u = math.log(t)
        return TemperatureSums(t, 10, math.nan, 10 * (u - 9.0), 10.0, math.nan, 5, 3, 10), (0.0,)

    t, passes = coarse_newton(beyond, 1.0)
    assert t is None and passes < 12  # the float64 fit looks at the bound itself


def test_many_classes_take_one_float32_pass_and_a_third_order_finish(monkeypatch):
    """[8000, 100] float32 from a subsample's start (2000 rows): the fifth-order float32
    step, one float64 pass, its last step by third-order Taylor; T* and the loss as the
    references."""
    monkeypatch.setattr(calibrate, "_SAMPLE_ELEMENTS", 2000 * 100)
    z, y = _logits(8000, 100, 13)
    y[::17] = -100
    x = z.astype(np.float32)
    z64 = x.astype(np.float64)
    finished: list[object] = []
    finish = calibrate._Epoch.finish

    def spy(self, sums, du):  # type: ignore[no-untyped-def]
        third = self.last.third_rows is not None
        out = finish(self, sums, du)
        finished.append((out, third))
        return out

    monkeypatch.setattr(calibrate._Epoch, "finish", spy)
    c = calibrate_epoch(x, y, kind="logits", brier=False)
    assert c.fit is not None and c.fit.status == "converged"
    assert c.fit.passes == 2 and len(finished) == 1
    assert finished[0][0] is not None and finished[0][1]  # the third-order step was taken
    _assert_torchs_optimum(c, z64, y)


def _assert_torchs_optimum(c, z64, y):
    """T* is the root of torch's derivative (brentq on log T), with torch's loss there."""
    u = math.log(c.temperature)
    root = optimize.brentq(
        lambda v: _torch_derivatives(z64, y, math.exp(v))[0], u - 0.2, u + 0.2, xtol=1e-15
    )
    assert c.temperature == pytest.approx(math.exp(root), rel=1e-8)
    _check_loss(c.loss_at_t, z64, y, c.temperature)
    assert c.fit.nll == pytest.approx(_torch_nll(z64, y, c.temperature), rel=1e-12)
    assert abs(c.fit.gradient) < 1e-9


def test_a_single_logit_starts_from_a_subsample_and_ends_at_scipys_optimum(monkeypatch):
    """[300000] binary logits, overconfident: the start is the fit of every 3rd row
    (``_sample_rows``: at most 2^17 rows however few the classes), not T = 1; T* is
    scipy's optimum of PyTorch's float64 ``binary_cross_entropy_with_logits(s / T)``
    and the per-sample loss at it PyTorch's."""
    rng = np.random.default_rng(21)
    n = 300_000
    y = rng.integers(0, 2, n)
    s = np.where(rng.random(n) < 0.8, 2 * y - 1, 1 - 2 * y) * rng.gamma(2.0, 3.0, n)
    x = s.astype(np.float32)
    s64 = x.astype(np.float64)
    y[::11] = -100
    keep = y != -100
    sampled: list[int] = []
    subsample = calibrate._subsample

    def spy(scores, labels, dtype):  # type: ignore[no-untyped-def]
        out = subsample(scores, labels, dtype)
        sampled.append(out[0].shape[0])
        return out

    monkeypatch.setattr(calibrate, "_subsample", spy)
    c = calibrate_epoch(x, y, kind="logits", brier=False)
    assert sampled == [100_000]  # every 3rd row: 2^20 // 8 = 131072 at most
    assert c.fit is not None and c.fit.status == "converged" and c.fit.passes <= 3
    sf, yf = torch.from_numpy(s64[keep]), torch.from_numpy(y[keep].astype(np.float64))

    def nll(t: float, reduction: str = "mean"):  # type: ignore[no-untyped-def]
        return torch.nn.functional.binary_cross_entropy_with_logits(
            sf / t, yf, reduction=reduction
        ).numpy()

    res = optimize.minimize_scalar(
        lambda u: float(nll(math.exp(u))), bounds=LOG_BOUNDS, method="bounded",
        options={"xatol": 1e-12},
    )  # fmt: skip
    assert c.temperature > 1.5  # overconfident: far from the old start at T = 1
    assert c.temperature == pytest.approx(math.exp(res.x), rel=1e-6)
    np.testing.assert_allclose(c.loss_at_t[keep], nll(c.temperature, "none"), rtol=1e-12)
    assert np.isnan(c.loss_at_t[~keep]).all()
