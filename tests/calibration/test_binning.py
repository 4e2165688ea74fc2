"""Binned ECE / MCE / RMSCE, the bin table and the noise floor against independent references.

References: a plain-loop reimplementation of each binning rule (``_ref_table``
below: explicit ``lo < x <= hi`` comparisons, Python float sums), scikit-learn's
``calibration_curve`` (the same ``(lo, hi]`` rule with ``np.linspace`` edges),
torchmetrics' ``multiclass_calibration_error`` / ``binary_calibration_error``
where its binning agrees with ours, the exact Poisson-binomial expectation for
the noise floor, and derivations stated in the tests.

Where torchmetrics 1.9 bins differently (``_binning_bucketize`` and
``_ce_compute`` in ``torchmetrics/functional/classification/calibration_error.py``):

1. ``torch.bucketize(conf, linspace(0, 1, B + 1), right=True) - 1`` makes bins
   ``[e_k, e_{k+1})``: a confidence exactly on an interior edge goes to the
   *upper* bin (ours, and sklearn's: the lower bin, ``(lo, hi]``).
2. A confidence of exactly 1.0 gets index ``B``: a (B+1)-th bin of its own
   (the bin arrays have ``len(bin_boundaries) = B + 1`` entries), not the last
   bin. l1, l2 and max all change when the gaps in ``(1 - 1/B, 1)`` and at 1.0
   differ in sign or size.
3. ``multiclass_calibration_error`` casts the confidences to float32
   (``confidences.float()``) and builds the edges with ``torch.linspace`` in
   float32, which are not the correctly rounded ``k/B``: for B = 15 the edges
   k = 3, 6, 7 lie 1-2 ulp above ``np.float32(k/15)`` (so those values land in
   the lower bin after all) and k = 8, 9, 10 one ulp below. A float64
   confidence is rounded to float32 before binning, so one within half a
   float32 ulp of an edge can change sides.
4. ``binary_calibration_error`` keeps the dtype; its float64 ``torch.linspace``
   edge k = 11 (B = 15) is one ulp off ``11/15``.
5. Empty bins get accuracy = confidence = 0 (``nan_to_num``): no effect on the
   norms (zero weight, zero gap); our table says NaN.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from predaudit.calibration import (
    binary_top_label,
    calibration_bins,
    calibration_errors,
    ece_noise_floor,
    quantile_edges,
    uniform_bin_index,
)

RNG = np.random.default_rng(20240611)


def _ref_table(conf, correct, edges, *, rule="ours", weights=None):
    """Plain loops over bins: (weight, accuracy, mean confidence) per bin.

    ``rule="ours"``: bin b holds ``edges[b] < x <= edges[b+1]``, and 0 in the first.
    ``rule="torchmetrics"``: ``edges[b] <= x < edges[b+1]``, plus a last bin ``x >= 1``.
    """
    nb = len(edges) - 1 + (1 if rule == "torchmetrics" else 0)
    w = [1.0] * len(conf) if weights is None else [float(v) for v in weights]
    rows = [[] for _ in range(nb)]
    for x, ok, wi in zip(conf, correct, w, strict=True):
        for b in range(nb):
            if rule == "ours":
                lo, hi = edges[b], edges[b + 1]
                inside = (lo < x <= hi) or (b == 0 and x == lo)
            elif b < len(edges) - 1:
                inside = edges[b] <= x < edges[b + 1]
            else:
                inside = x >= edges[-1]
            if inside:
                rows[b].append((float(x), float(ok), wi))
                break
        else:
            raise AssertionError(f"{x} in no bin")
    out = []
    for r in rows:
        wt = math.fsum(wi for _, _, wi in r)
        if wt > 0:
            acc = math.fsum(o * wi for _, o, wi in r) / wt
            cf = math.fsum(x * wi for x, _, wi in r) / wt
        else:
            acc = cf = math.nan
        out.append((wt, acc, cf, len(r)))
    return out


def _ref_errors(table):
    total = math.fsum(t[0] for t in table)
    full = [t for t in table if t[0] > 0]
    ece = math.fsum(t[0] / total * abs(t[1] - t[2]) for t in full)
    mce = max(abs(t[1] - t[2]) for t in full)
    rms = math.sqrt(math.fsum(t[0] / total * (t[1] - t[2]) ** 2 for t in full))
    return ece, mce, rms


def _edges(n_bins, dtype):
    return [dtype(k / n_bins) for k in range(n_bins + 1)]


# --- the bin rule ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("n_bins", [1, 4, 7, 10, 15, 20])
def test_edge_values_go_to_the_lower_bin(dtype, n_bins):
    """``k/B`` in its dtype is on edge k: bin k-1 (0-based), 0 in bin 0; neighbours by side."""
    k = np.arange(n_bins + 1)
    on = np.array([dtype(j / n_bins) for j in k], dtype=dtype)
    got = uniform_bin_index(on, n_bins=n_bins)
    assert got.tolist() == np.maximum(k - 1, 0).tolist()
    up = np.nextafter(on[:-1], dtype(2))  # just above edge k, k < B: bin k
    assert uniform_bin_index(up, n_bins=n_bins).tolist() == k[:-1].tolist()
    down = np.nextafter(on[1:], dtype(-1))  # just below edge k, k >= 1: bin k-1
    assert uniform_bin_index(down, n_bins=n_bins).tolist() == (k[1:] - 1).tolist()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bins_match_plain_loops_on_edges_and_random_values(dtype):
    """The documented rule, by explicit comparisons against ``dtype(k/B)``."""
    n_bins = 15
    edges = _edges(n_bins, dtype)
    vals = np.concatenate(
        [
            np.array(edges, dtype=dtype),
            np.nextafter(np.array(edges, dtype=dtype), dtype(2)).clip(0, 1),
            np.nextafter(np.array(edges, dtype=dtype), dtype(-1)).clip(0, 1),
            RNG.random(300).astype(dtype),
        ]
    )
    ok = RNG.random(vals.size) < 0.7
    table = _ref_table(vals, ok, edges)
    ours = calibration_bins(vals, ok, n_bins=n_bins)
    assert ours.counts.tolist() == [t[3] for t in table]
    np.testing.assert_allclose(ours.accuracy, [t[1] for t in table], rtol=1e-14, atol=0)
    np.testing.assert_allclose(ours.confidence, [t[2] for t in table], rtol=1e-14, atol=0)
    err = calibration_errors(vals, ok, n_bins=n_bins)
    np.testing.assert_allclose([err.ece, err.mce, err.rmsce], _ref_errors(table), rtol=1e-12)


def test_float32_and_its_float64_copy_share_bins_except_at_float32_edges():
    """Exact comparisons: only the float32 values ``np.float32(k/B)`` themselves may move."""
    n_bins = 15
    x32 = np.concatenate([RNG.random(20000).astype(np.float32), _edges(n_bins, np.float32)])
    x32 = np.concatenate([x32, np.nextafter(x32, np.float32(2)).clip(0, 1)]).astype(np.float32)
    b32 = uniform_bin_index(x32, n_bins=n_bins)
    b64 = uniform_bin_index(x32.astype(np.float64), n_bins=n_bins)
    at_edge = np.isin(x32, np.array(_edges(n_bins, np.float32), dtype=np.float32))
    assert np.array_equal(b32[~at_edge], b64[~at_edge])
    # ...and those that move are exactly the float32 edges above the true k/15: the
    # float64 copy of such a value is above the float64 edge too (the nearest float64 to
    # k/15, which is no float32), so it goes up; one below k/15 stays below both.
    moved = sorted(np.unique(x32[b32 != b64]).astype(np.float64).tolist())
    above = [float(np.float32(k / 15)) for k in range(1, 15) if float(np.float32(k / 15)) > k / 15]
    assert moved == sorted(above) and len(above) > 0


# --- against scikit-learn and torchmetrics --------------------------------------------------


def test_table_matches_sklearn_calibration_curve():
    from sklearn.calibration import calibration_curve

    conf = RNG.random(5000) ** 0.5
    ok = RNG.random(5000) < conf**1.3
    for n_bins in (5, 10, 15):
        prob_true, prob_pred = calibration_curve(ok, conf, n_bins=n_bins, strategy="uniform")
        t = calibration_bins(conf, ok, n_bins=n_bins)
        np.testing.assert_allclose(t.accuracy[t.nonempty], prob_true, rtol=1e-13)
        np.testing.assert_allclose(t.confidence[t.nonempty], prob_pred, rtol=1e-13)


def _away_from_edges(conf, n_bins, gap=1e-5):
    frac = np.asarray(conf, dtype=np.float64) * n_bins
    return np.abs(frac - np.round(frac)) > gap


@pytest.mark.parametrize("n_bins", [10, 15])
def test_matches_torchmetrics_multiclass_away_from_edges(n_bins):
    """``multiclass_calibration_error`` with norm l1 / max / l2 is our ECE / MCE / RMSCE."""
    import torch
    from torchmetrics.functional import classification as tmc

    n, c = 4000, 10
    logits = (RNG.normal(size=(n, c)) * 2.5).astype(np.float32)
    y = RNG.integers(0, c, n)
    y[: n // 2] = logits[: n // 2].argmax(1)  # half right, the rest by chance
    probs = torch.softmax(torch.from_numpy(logits), dim=1)
    conf = probs.max(dim=1).values.numpy()
    keep = _away_from_edges(conf, n_bins) & (conf < 1)
    probs, y, conf = probs[keep], y[keep], conf[keep]
    ok = probs.numpy().argmax(1) == y
    ours = calibration_errors(conf, ok, n_bins=n_bins)
    for norm, value in (("l1", ours.ece), ("max", ours.mce), ("l2", ours.rmsce)):
        ref = tmc.multiclass_calibration_error(
            probs, torch.from_numpy(y), num_classes=c, n_bins=n_bins, norm=norm
        )
        assert float(ref) == pytest.approx(value, rel=2e-6, abs=1e-7), norm


def test_torchmetrics_differs_exactly_as_its_rule_says_on_edges_and_at_one():
    """Edge values and 1.0: torchmetrics follows ``[lo, hi)`` + an own bin for 1.0; we don't."""
    import torch
    from torchmetrics.functional import classification as tmc

    n_bins = 15
    ours_edges = _edges(n_bins, np.float32)
    tm_edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float32).numpy().tolist()
    # Point 3 of the module docstring: which float32 linspace edges are off.
    off = [k for k in range(n_bins + 1) if np.float32(tm_edges[k]) != ours_edges[k]]
    assert off == [3, 6, 7, 8, 9, 10]
    conf = np.array(ours_edges[1:] * 2 + [0.95, 0.95, 0.97], dtype=np.float32)
    ok = np.zeros(conf.size, dtype=bool)
    ok[::3] = True
    mine = calibration_errors(conf, ok, n_bins=n_bins)
    tm_table = _ref_table(conf, ok, tm_edges, rule="torchmetrics")
    expect_tm = _ref_errors(tm_table)
    expect_ours = _ref_errors(_ref_table(conf, ok, ours_edges))
    np.testing.assert_allclose([mine.ece, mine.mce, mine.rmsce], expect_ours, rtol=1e-12)
    for norm, value in zip(("l1", "max", "l2"), expect_tm, strict=True):
        got = tmc.binary_calibration_error(
            torch.from_numpy(conf), torch.from_numpy(ok.astype(np.int64)), n_bins=n_bins, norm=norm
        )
        assert float(got) == pytest.approx(value, rel=1e-5), norm
    assert tm_table[-1][3] == 2  # 1.0 twice, in the extra bin


def test_a_value_on_an_edge_and_a_value_of_one_change_torchmetrics_numbers():
    """By hand, B = 15: ``a = float32(1/3)`` (edge 5, not one of the off edges) right,
    0.30 wrong, 0.36 right, 1.0 wrong, 0.95 right twice.

    Ours: bin (4/15, 5/15] = {a, 0.30}: acc 1/2, conf (a + 0.3)/2, gap 0.5 - 0.31667 = 0.18333;
    (5/15, 6/15] = {0.36}: gap 0.64; (14/15, 1] = {1.0, 0.95, 0.95}: acc 2/3, conf 0.96667,
    gap 0.3. ECE = (2*0.18333 + 0.64 + 3*0.3)/6 = 0.31778; MCE = 0.64.
    torchmetrics: [4/15, 5/15) = {0.30}: gap 0.3; [5/15, 6/15) = {a, 0.36}: acc 1,
    conf 0.34667, gap 0.65333; [14/15, 1) = {0.95, 0.95}: gap 0.05; [1, ...] = {1.0}: gap 1.
    ECE = (0.3 + 2*0.65333 + 2*0.05 + 1)/6 = 0.45111; MCE = 1.
    """
    import torch
    from torchmetrics.functional import classification as tmc

    a = np.float32(1 / 3)
    conf = np.array([a, 0.30, 0.36, 1.0, 0.95, 0.95], dtype=np.float32)
    ok = np.array([1, 0, 1, 0, 1, 1])
    c = conf.astype(np.float64)
    ours_ece = (
        2 * abs(0.5 - (c[0] + c[1]) / 2) + abs(1 - c[2]) + 3 * abs(2 / 3 - c[3:].mean())
    ) / 6
    tm_ece = (c[1] + 2 * abs(1 - (c[0] + c[2]) / 2) + 2 * (1 - c[4]) + 1) / 6
    mine = calibration_errors(conf, ok.astype(bool))
    assert mine.ece == pytest.approx(ours_ece, rel=1e-12)
    assert mine.mce == pytest.approx(1 - c[2], rel=1e-12)
    tm = tmc.binary_calibration_error(torch.from_numpy(conf), torch.from_numpy(ok), n_bins=15)
    assert float(tm) == pytest.approx(tm_ece, rel=1e-6)
    tm_max = tmc.binary_calibration_error(
        torch.from_numpy(conf), torch.from_numpy(ok), n_bins=15, norm="max"
    )
    assert float(tm_max) == 1.0
    assert tm_ece - ours_ece > 0.13


def test_positive_class_and_top_label_of_a_binary_model_against_torchmetrics():
    import torch
    from torchmetrics.functional import classification as tmc

    p = RNG.random(3000)
    y = (RNG.random(3000) < p**0.8).astype(np.int64)
    keep = _away_from_edges(p, 15) & _away_from_edges(1 - p, 15) & (np.abs(p - 0.5) > 1e-6)
    p, y = p[keep], y[keep]
    ours = calibration_errors(p, y == 1)
    ref = tmc.binary_calibration_error(torch.from_numpy(p), torch.from_numpy(y), n_bins=15)
    assert float(ref) == pytest.approx(ours.ece, rel=1e-12)
    conf, ok = binary_top_label(p, y)
    top = calibration_errors(conf, ok)
    two = torch.from_numpy(np.stack([1 - p, p], axis=1))
    ref_top = tmc.multiclass_calibration_error(two, torch.from_numpy(y), num_classes=2, n_bins=15)
    assert float(ref_top) == pytest.approx(top.ece, rel=2e-6)


def test_binary_top_label_tie_goes_to_class_zero():
    conf, ok = binary_top_label(np.array([0.5, 0.5, 0.2, 0.9]), np.array([0, 1, 0, 0]))
    # argmax over [1 - p, p]: class 0 at the tie, class 0 for 0.2, class 1 for 0.9.
    assert conf.tolist() == [0.5, 0.5, 0.8, 0.9]
    assert ok.tolist() == [True, False, True, False]


# --- weights, quantile bins, the table --------------------------------------------------------


def test_integer_weights_equal_repeated_samples():
    conf = RNG.random(400)
    ok = RNG.random(400) < conf
    w = RNG.integers(0, 4, 400)
    rep = calibration_errors(np.repeat(conf, w), np.repeat(ok, w))
    wtd = calibration_errors(conf, ok, weights=w.astype(float))
    assert [wtd.ece, wtd.mce, wtd.rmsce] == pytest.approx([rep.ece, rep.mce, rep.rmsce], rel=1e-12)
    for binning in ("uniform", "quantile"):
        a = calibration_bins(np.repeat(conf, w), np.repeat(ok, w), binning=binning)
        b = calibration_bins(conf, ok, weights=w.astype(float), binning=binning)
        np.testing.assert_array_equal(a.edges, b.edges)
        np.testing.assert_allclose(a.weight, b.weight, rtol=1e-12)


def test_quantile_bins_hold_equal_mass_and_ece_is_the_mean_group_gap():
    """300 distinct values, 10 bins: each bin is one sorted group of 30."""
    conf = RNG.permutation(np.linspace(0.05, 0.99, 300))
    ok = RNG.random(300) < conf
    err = calibration_errors(conf, ok, n_bins=10, binning="quantile")
    assert err.bins.counts.tolist() == [30] * 10
    order = np.argsort(conf)
    groups = np.split(order, 10)
    gaps = [abs(ok[g].mean() - conf[g].mean()) for g in groups]
    assert err.ece == pytest.approx(np.mean(gaps), rel=1e-12)
    assert err.mce == pytest.approx(np.max(gaps), rel=1e-12)
    assert err.rmsce == pytest.approx(math.sqrt(np.mean(np.square(gaps))), rel=1e-12)
    # Each inner edge is the largest value of its group; the rule is (lo, hi].
    edges = err.bins.edges
    assert edges[0] == 0.0 and edges[-1] == 1.0
    np.testing.assert_array_equal(edges[1:-1], [conf[g].max() for g in groups[:-1]])


def test_quantile_ties_never_straddle_bins():
    conf = np.repeat([0.2, 0.5, 0.7, 1.0], [50, 10, 5, 35])
    ok = RNG.random(conf.size) < 0.5
    t = calibration_bins(conf, ok, n_bins=10, binning="quantile")
    # Cumulative counts 50, 60, 65, 100; targets 10, 20, ..., 90. Targets up to 50 pick
    # 0.2, target 60 picks 0.5, targets 70-90 pick 1.0 (an edge at 1 is dropped): 0.7
    # is never an edge and shares the last bin with 1.0.
    assert t.edges.tolist() == [0.0, 0.2, 0.5, 1.0]
    assert t.counts.tolist() == [50, 10, 40]
    zero = calibration_bins(np.array([0.0] * 6 + [0.4] * 4), np.ones(10, bool), binning="quantile")
    assert zero.edges.tolist() == [0.0, 0.0, 0.4, 1.0] and zero.counts.tolist() == [6, 4, 0]


def test_quantile_edges_follow_the_cumulative_weight():
    """Edge k is the smallest value whose cumulative weight reaches k/B of the total."""
    conf = np.array([0.1, 0.2, 0.3, 0.4])
    w = np.array([3.0, 1.0, 1.0, 1.0])  # cumulative 3, 4, 5, 6 of 6
    # B = 3: targets 2 and 4 -> 0.1 (3 >= 2) and 0.2 (4 >= 4).
    assert quantile_edges(conf, n_bins=3, weights=w).tolist() == [0.0, 0.1, 0.2, 1.0]
    # unit weights, B = 2: target 2 -> the 2nd smallest value.
    assert quantile_edges(conf, n_bins=2).tolist() == [0.0, 0.2, 1.0]


def test_empty_bins_are_nan_and_do_not_count():
    t = calibration_bins(np.array([0.05, 0.95]), np.array([False, True]), n_bins=10)
    assert t.counts.tolist() == [1] + [0] * 8 + [1]
    assert np.isnan(t.accuracy[1:-1]).all() and np.isnan(t.confidence[1:-1]).all()
    err = calibration_errors(np.array([0.05, 0.95]), np.array([False, True]), n_bins=10)
    # gaps 0.05 and 0.05, each half the mass.
    assert err.ece == pytest.approx(0.05) and err.mce == pytest.approx(0.05)


@pytest.mark.parametrize(
    "conf", [np.array([1.2]), np.array([-0.1]), np.array([np.nan]), np.zeros((2, 2))]
)
def test_bad_confidence_is_rejected(conf):
    with pytest.raises(ValueError):
        calibration_errors(conf, np.zeros(conf.shape[0], bool))


def test_no_samples_is_an_error():
    with pytest.raises(ValueError, match="no samples"):
        calibration_errors(np.array([]), np.array([], bool))


# --- the noise floor ------------------------------------------------------------------------


def _exact_expected_ece(conf, bins):
    """E[ECE] under correct_i ~ Bernoulli(conf_i): Poisson-binomial pmf per bin, by convolution."""
    total = 0.0
    for b in np.unique(bins):
        c = conf[bins == b]
        pmf = np.array([1.0])
        for ci in c:
            pmf = np.convolve(pmf, [1 - ci, ci])
        total += float(np.sum(pmf * np.abs(np.arange(pmf.size) - c.sum())))
    return total / conf.size


@pytest.mark.parametrize("binning", ["uniform", "quantile"])
def test_noise_floor_matches_the_exact_expectation(binning):
    conf = 0.3 + 0.7 * RNG.random(600)
    floor = ece_noise_floor(conf, binning=binning)
    bins = calibration_bins(conf, np.zeros(600, bool), binning=binning)
    idx = np.searchsorted(bins.edges[1:-1], conf, side="left")
    exact = _exact_expected_ece(conf, idx)
    se = floor.ece_std / math.sqrt(floor.n_draws)
    assert floor.n_draws == 200
    assert abs(floor.ece - exact) < 4 * se
    assert 0 < floor.ece <= floor.rmsce <= floor.mce  # mean |.| <= root mean square <= max


def test_noise_floor_of_certain_confidences_is_zero():
    """conf in {0, 1}: the labels are certain, every bin's gap is 0 in every draw."""
    floor = ece_noise_floor(np.array([0.0, 1.0, 1.0, 0.0]))
    assert floor.ece == 0.0 and floor.mce == 0.0 and floor.ece_std == 0.0


def test_noise_floor_is_seeded_and_independent_of_the_memory_bound():
    conf = RNG.random(1500)
    a = ece_noise_floor(conf, seed=3)
    b = ece_noise_floor(conf, seed=3, max_elements=200 * 7)  # 7 samples at a time
    c = ece_noise_floor(conf, seed=3, max_elements=1)  # one sample at a time
    assert a.ece == pytest.approx(b.ece, rel=1e-12) and a.ece == pytest.approx(c.ece, rel=1e-12)
    assert a.mce == pytest.approx(c.mce, rel=1e-12)
    assert ece_noise_floor(conf, seed=4).ece != a.ece
    ones = ece_noise_floor(conf, seed=3, weights=np.ones(1500))
    assert ones.ece == pytest.approx(a.ece, rel=1e-12)
