"""smECE against the authors' own package, ``relplot`` (Błasiok & Nakkiran, apple/ml-calibration).

``relplot.smECE(f, y, return_width=True)`` gives (smECE, σ*) and
``relplot.smECE_sigma(f, y, σ)`` the fixed-bandwidth value; ours must agree to
1e-12 (same algorithm, float64; the grid sums may differ in order).
"""

from __future__ import annotations

import numpy as np
import pytest
import relplot

from predaudit.calibration import smooth_ece, smooth_ece_at, smooth_reliability

RNG = np.random.default_rng(7)


def _data(n, *, power=1.5):
    f = RNG.random(n) ** 0.4
    y = (RNG.random(n) < f**power).astype(np.float64)
    return f, y


@pytest.mark.parametrize("n", [1, 2, 17, 500, 5000])
@pytest.mark.parametrize("power", [1.0, 2.0])
def test_smece_and_bandwidth_match_relplot(n, power):
    f, y = _data(n, power=power)
    ref, ref_sigma = relplot.smECE(f, y, return_width=True)
    got = smooth_ece(f, y)
    assert got.sigma == ref_sigma
    assert got.smece == pytest.approx(float(ref), rel=1e-12, abs=1e-15)
    # the fixed point: sigma* is the upper end of the last bisection bracket
    assert got.smece <= got.sigma


@pytest.mark.parametrize("sigma", [0.003, 0.01, 0.05, 0.1337, 0.5, 1.0])
def test_fixed_bandwidth_matches_relplot(sigma):
    f, y = _data(800)
    assert smooth_ece_at(f, y, sigma=sigma) == pytest.approx(
        float(relplot.smECE_sigma(f, y, sigma)), rel=1e-12
    )


def test_edges_of_the_unit_interval_and_perfect_predictions():
    """Predictions at exactly 0 and 1 (the last grid cell), and f == y: smECE 0 at sigma 2^-9.

    With zero residuals no sigma >= eps is below the fixed point, so the
    bisection halves down to 1/1024 (< eps = 1e-3, counted below) and keeps 1/512.
    """
    f = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    got = smooth_ece(f, f.copy())
    ref, ref_sigma = relplot.smECE(f, f.copy(), return_width=True)
    assert (got.smece, got.sigma) == (float(ref), ref_sigma) == (0.0, 1 / 512)
    f2 = np.array([0.0, 1.0, 1.0, 0.2, 0.999])
    y2 = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
    ref2, s2 = relplot.smECE(f2, y2, return_width=True)
    got2 = smooth_ece(f2, y2)
    assert got2.sigma == s2 and got2.smece == pytest.approx(float(ref2), rel=1e-12)


def test_unit_weights_are_relplot_and_weights_are_scale_free():
    f, y = _data(300)
    ref = float(relplot.smECE(f, y))
    assert smooth_ece(f, y, weights=np.ones(300)).smece == pytest.approx(ref, rel=1e-12)
    w = RNG.integers(1, 4, 300).astype(np.float64)
    assert smooth_ece(f, y, weights=w).smece == pytest.approx(
        smooth_ece(f, y, weights=7.5 * w).smece, rel=1e-12
    )


def test_integer_weights_are_close_to_repeated_samples():
    """Repetition = weights, up to the 1e-4 density floor, which counts in samples."""
    f, y = _data(300)
    w = RNG.integers(0, 4, 300)
    rep = float(relplot.smECE_sigma(np.repeat(f, w), np.repeat(y, w), 0.07))
    assert smooth_ece_at(f, y, sigma=0.07, weights=w.astype(float)) == pytest.approx(rep, rel=1e-5)


def test_curve_is_the_kernel_average_of_the_residuals():
    """Away from the ends and from the grids, the smoothed residual is a plain Gaussian
    kernel average: sum_i K(t - f_i) (f_i - y_i) / sum_i K(t - f_i)."""
    f = 0.3 + 0.4 * RNG.random(400)
    y = (RNG.random(400) < 0.5).astype(float)
    sigma = 0.05
    curve = smooth_reliability(f, y, sigma=sigma)
    mid = (curve.t > 0.4) & (curve.t < 0.6)
    k = np.exp(-((curve.t[mid, None] - f[None, :]) ** 2) / (2 * sigma**2))
    direct = (k * (f - y)).sum(1) / k.sum(1)
    np.testing.assert_allclose(curve.residual[mid], direct, atol=2e-3)


@pytest.mark.parametrize(
    "f,y",
    [(np.array([1.5]), np.array([1.0])), (np.array([0.5]), np.array([2.0])), (np.array([]),) * 2],
)
def test_bad_inputs_raise(f, y):
    with pytest.raises(ValueError):
        smooth_ece(f, y)
