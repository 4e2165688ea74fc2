"""The split of a loss rise into loss at T* and calibration gap.

References: a plain loop over samples for the cell sums, and a derivation: if
the later epoch's logits are the earlier ones times 3, the fitted temperature
is 3 times larger, the loss at T* is the same, and the whole rise is
calibration gap (temperature share 1).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from predaudit.calibration import fit_temperature_array, loss_at_temperature, temperature_split

RNG = np.random.default_rng(3)


def _cells(correct_a, correct_b):
    return {
        "correct_to_correct": correct_a & correct_b,
        "correct_to_wrong": correct_a & ~correct_b,
        "wrong_to_correct": ~correct_a & correct_b,
        "wrong_to_wrong": ~correct_a & ~correct_b,
    }


def test_cells_are_plain_sums_over_n_and_add_up():
    n = 400
    la, lb = RNG.exponential(size=n), RNG.exponential(size=n) * 1.3
    ta, tb = la * RNG.uniform(0.5, 1, n), lb * RNG.uniform(0.5, 1, n)
    ca, cb = RNG.random(n) < 0.8, RNG.random(n) < 0.8
    cells = _cells(ca, cb)
    out = temperature_split(la, ta, lb, tb, cells)
    for name, mask in cells.items():
        dl = math.fsum(float(lb[i] - la[i]) for i in range(n) if mask[i]) / n
        dt = math.fsum(float(tb[i] - ta[i]) for i in range(n) if mask[i]) / n
        cell = out.cells[name]
        assert cell.n == int(mask.sum())
        assert cell.delta_loss == pytest.approx(dl, rel=1e-12, abs=1e-15)
        assert cell.delta_loss_at_temperature == pytest.approx(dt, rel=1e-12, abs=1e-15)
        assert cell.delta_calibration_gap == pytest.approx(dl - dt, rel=1e-10, abs=1e-15)
    for field in ("delta_loss", "delta_loss_at_temperature", "delta_calibration_gap"):
        parts = math.fsum(getattr(c, field) for c in out.cells.values())
        assert parts == pytest.approx(getattr(out.total, field), rel=1e-12, abs=1e-15)
    assert out.total.delta_loss == pytest.approx(lb.mean() - la.mean(), rel=1e-12)
    expect = 1 - (tb.mean() - ta.mean()) / (lb.mean() - la.mean())
    assert out.temperature_share == pytest.approx(expect, rel=1e-10)


def test_sharper_logits_rise_is_all_calibration_gap():
    n, c = 2000, 6
    y = RNG.integers(0, c, n)
    z = RNG.normal(size=(n, c)) * 1.5
    z[np.arange(n), y] += np.where(RNG.random(n) < 0.75, 2.0, -1.0)
    za, zb = z, 3.0 * z  # same predictions, sharper: the loss rises
    fa, fb = fit_temperature_array(za, y), fit_temperature_array(zb, y)
    assert fb.temperature == pytest.approx(3 * fa.temperature, rel=1e-8)
    la = loss_at_temperature(za, y, temperature=1.0)
    lb = loss_at_temperature(zb, y, temperature=1.0)
    ta = loss_at_temperature(za, y, temperature=fa.temperature)
    tb = loss_at_temperature(zb, y, temperature=fb.temperature)
    ok = np.argmax(z, axis=1) == y
    out = temperature_split(la, ta, lb, tb, _cells(ok, ok))
    assert out.total.delta_loss > 0.1
    assert abs(out.total.delta_loss_at_temperature) < 1e-9
    assert out.temperature_share == pytest.approx(1.0, abs=1e-8)
    assert out.cells["correct_to_wrong"].n == 0 == out.cells["wrong_to_correct"].n


def test_no_share_without_a_rise():
    la = np.array([1.0, 2.0])
    ta = np.array([0.5, 1.0])
    cells = {"all": np.array([True, True])}
    assert temperature_split(la, ta, la * 0.9, ta, cells).temperature_share is None  # a fall
    assert temperature_split(la, ta, la.copy(), ta, cells).temperature_share is None  # no change
    tiny = la + 1e-15
    assert temperature_split(la, ta, tiny, ta, cells).temperature_share is None  # rounding


@pytest.mark.parametrize(
    "cells",
    [
        {"a": np.array([True, False, False])},  # does not cover
        {"a": np.array([True, True, False]), "b": np.array([False, True, True])},  # overlaps
        {"a": np.array([1, 1, 1])},  # not bool
    ],
)
def test_cells_must_partition(cells):
    x = np.ones(3)
    with pytest.raises(ValueError):
        temperature_split(x, x, x, x, cells)


def test_shapes_and_values_are_checked():
    x = np.ones(3)
    cells = {"all": np.ones(3, bool)}
    with pytest.raises(ValueError):
        temperature_split(x, np.ones(2), x, x, cells)
    with pytest.raises(ValueError):
        temperature_split(x, x, np.array([1.0, np.nan, 1.0]), x, cells)
    with pytest.raises(ValueError):
        temperature_split(np.ones(0), np.ones(0), np.ones(0), np.ones(0), {})
