"""Data-map regions, summary helpers and label-problem criteria on small hand-made cases."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from predaudit.dynamics import (
    REGION_NAMES,
    DynamicsAccumulator,
    RegionThresholds,
    likely_label_problems,
    quantile_thresholds,
    region_counts,
    regions,
    summarize,
    top_k_ambiguous,
    top_k_hardest,
)

# ten samples: confidence 0.05 .. 0.95, variability chosen per sample
CONF = np.linspace(0.05, 0.95, 10)
VAR = np.array([0.01, 0.02, 0.30, 0.03, 0.25, 0.35, 0.04, 0.05, 0.20, 0.06])


def test_quantile_thresholds_are_the_kth_values():
    th = quantile_thresholds(CONF, VAR, fraction=0.3)  # k = 3
    assert (th.method, th.fraction, th.n) == ("quantile", 0.3, 10)
    assert th.easy_confidence == CONF[7]  # third largest
    assert th.hard_confidence == CONF[2]  # third smallest
    assert th.ambiguous_variability == 0.25  # third largest variability
    found = regions(CONF, VAR, thresholds=th)
    assert np.flatnonzero(found.in_easy).tolist() == [7, 8, 9]
    assert np.flatnonzero(found.in_hard).tolist() == [0, 1, 2]
    assert np.flatnonzero(found.in_ambiguous).tolist() == [2, 4, 5]
    # ambiguous first, then easy, then hard; the rest "other"
    assert found.labels().tolist() == [
        "hard-to-learn", "hard-to-learn", "ambiguous", "other", "ambiguous",
        "ambiguous", "other", "easy-to-learn", "easy-to-learn", "easy-to-learn",
    ]  # fmt: skip
    assert found.counts() == {"easy-to-learn": 3, "ambiguous": 3, "hard-to-learn": 2, "other": 2}
    assert region_counts(found) == found.counts()
    assert found.names == REGION_NAMES


def test_default_thresholds_and_ties():
    found = regions(CONF, VAR)  # fraction 0.33: k = 3 of 10
    assert found.thresholds == quantile_thresholds(CONF, VAR, fraction=0.33)
    # ties at the threshold are all selected
    conf = np.array([0.1, 0.5, 0.5, 0.5, 0.9])
    found = regions(
        conf, np.zeros(5), thresholds=quantile_thresholds(conf, np.zeros(5), fraction=0.4)
    )
    assert found.thresholds.easy_confidence == 0.5  # k = 2: second largest
    assert found.in_easy.tolist() == [False, True, True, True, True]
    assert found.in_ambiguous.all()  # every variability ties at 0
    # too few samples: infinite thresholds, nothing selected
    th = quantile_thresholds([0.2, 0.8], [0.1, 0.1])
    assert (th.easy_confidence, th.hard_confidence) == (math.inf, -math.inf)
    assert regions([0.2, 0.8], [0.1, 0.1], thresholds=th).labels().tolist() == ["other"] * 2


def test_fixed_thresholds_and_checks():
    th = RegionThresholds.fixed(easy_confidence=0.8, hard_confidence=0.2, ambiguous_variability=0.2)
    assert th.method == "fixed" and th.fraction is None and th.n is None
    found = regions(CONF, VAR, thresholds=th)
    assert found.codes.dtype == np.int8
    assert found.labels()[[0, 1, 2, 9]].tolist() == [
        "hard-to-learn", "hard-to-learn", "ambiguous", "easy-to-learn",
    ]  # fmt: skip
    assert dataclasses.asdict(th)["easy_confidence"] == 0.8
    with pytest.raises(ValueError, match="must not exceed"):
        RegionThresholds.fixed(easy_confidence=0.3, hard_confidence=0.5, ambiguous_variability=0.1)
    with pytest.raises(ValueError, match="NaN"):
        RegionThresholds.fixed(easy_confidence=math.nan, hard_confidence=0, ambiguous_variability=0)
    with pytest.raises(ValueError, match="fraction"):
        quantile_thresholds(CONF, VAR, fraction=0.6)
    with pytest.raises(ValueError, match="one shape"):
        regions(CONF, VAR[:3])
    with pytest.raises(ValueError, match="finite"):
        regions([0.5, np.nan], [0.1, 0.1])
    with pytest.raises(dataclasses.FrozenInstanceError):
        th.method = "quantile"  # type: ignore[misc]


def _result(rows, *, given=0):
    """rows: one (correct?, pred, confidence) sequence per sample, over the same epochs."""
    n, e = len(rows), len(rows[0])
    acc = DynamicsAccumulator(n, input_kind="probs")
    for i in range(e):
        correct = np.array([r[i][0] for r in rows], dtype=bool)
        pred = np.array([r[i][1] for r in rows])
        conf = np.array([r[i][2] for r in rows])
        acc.update(
            i + 1,
            p_true=np.where(correct, conf, (1 - conf) / 2),
            correct=correct,
            pred=pred,
            confidence=conf,
            valid=np.ones(n, dtype=bool),
            labels=np.full(n, given),
        )
    return acc.result()


def test_label_problems_criteria_and_ranking():
    r = _result(
        [
            [(False, 3, c) for c in (0.5, 0.6, 0.7, 0.8, 0.9)],  # consistent, growing
            [(False, 3, c) for c in (0.9, 0.9, 0.8, 0.8, 0.8)],  # consistent, falling
            [(False, k, 0.6) for k in (1, 2, 3, 4, 5)],  # wrong, scattered
            [(True, 0, 0.9)] * 3 + [(False, 7, 0.9)] * 2,  # mostly right
            [(True, 0, 0.9)] * 5,  # never wrong
        ]
    )
    found = likely_label_problems(r)
    assert found.index.tolist() == [1, 0]  # score 0.84 vs 0.7
    np.testing.assert_allclose(found.score, [0.84, 0.7])
    assert found.suspect_class.tolist() == [3, 3]
    assert found.given_label.tolist() == [0, 0]
    assert found.wrong_fraction.tolist() == [1.0, 1.0] and found.consistency.tolist() == [1.0, 1.0]
    np.testing.assert_allclose(found.slope, [-0.03, 0.1])
    assert (found.n_candidates, found.min_wrong_fraction, found.min_consistency) == (2, 0.8, 0.5)
    assert found.min_slope is None
    growing = likely_label_problems(r, min_slope=0.0)
    assert growing.index.tolist() == [0] and growing.min_slope == 0.0
    loose = likely_label_problems(r, min_wrong_fraction=0.4, min_consistency=0.2)
    assert loose.index.tolist() == [1, 0, 3, 2]  # 0.84, 0.7, 0.36, 0.12
    assert likely_label_problems(r, k=1).index.tolist() == [1]
    with pytest.raises(ValueError, match="min_consistency"):
        likely_label_problems(r, min_consistency=1.5)
    with pytest.raises(ValueError, match="k must be"):
        likely_label_problems(r, k=-1)


def test_summary_counts_and_top_k():
    r = _result(
        [
            [(True, 0, 0.9), (False, 1, 0.6), (True, 0, 0.9)],  # forgotten once
            [(False, 2, 0.8)] * 3,  # never learned
            [(True, 0, 0.99)] * 3,  # easy
            [(False, 2, 0.5), (True, 0, 0.7), (True, 0, 0.8)],
        ]
    )
    s = summarize(r, k=2)
    assert (s.n_samples, s.n_included, s.n_excluded, s.n_epochs) == (4, 4, 0, 3)
    assert (s.first_epoch, s.last_epoch) == (1, 3)
    assert s.never_learned == 1 and s.forgotten_at_least_once == 1
    assert sum(s.region_counts.values()) == 4
    assert s.thresholds.method == "quantile"
    assert s.most_ambiguous.tolist() == top_k_ambiguous(r, 2).tolist()
    assert s.hardest.tolist() == [1, 3] == top_k_hardest(r, 2).tolist()
    assert top_k_ambiguous(r, 10).size == 4
    # ties broken by the lower position
    assert top_k_ambiguous(r, 4)[-2:].tolist() == [1, 2]  # both have variability 0
    th = RegionThresholds.fixed(
        easy_confidence=0.95, hard_confidence=0.1, ambiguous_variability=0.5
    )
    s = summarize(r, region_result=regions(r.confidence, r.variability, thresholds=th))
    assert s.region_counts == {"easy-to-learn": 1, "ambiguous": 0, "hard-to-learn": 1, "other": 2}
    with pytest.raises(ValueError, match="does not match"):
        summarize(r, region_result=regions(CONF, VAR))
    with pytest.raises(ValueError, match="k must be"):
        top_k_hardest(r, -1)
