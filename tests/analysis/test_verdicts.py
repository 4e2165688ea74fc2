"""One golden test per verdict: the statement is one sentence whose words match the verdict.

The cells are made by hand (100 samples; contributions are cell sums / 100), so each
number in the expected sentence can be checked on paper; the p-values are the exact
one-sided Wilcoxon signed-rank values (n ≤ 50, no ties): 2**-20 rounds to 1e-06 for
20 positive differences, 2/16 = 0.125 for 4 with one negative of rank 1, and
1/64 = 0.016 for 6 positive ones.
"""

from __future__ import annotations

import numpy as np
import pytest

from predaudit.analysis.hypothesis import judge
from predaudit.report.analyze import Cell


def cells(cc, cw, wc, ww):
    return {
        "correct_to_correct": Cell(*cc),
        "correct_to_wrong": Cell(*cw),
        "wrong_to_correct": Cell(*wc),
        "wrong_to_wrong": Cell(*ww),
    }


def verdict(c, ww, delta_loss=None, aligned=True):
    dl = sum(x.contribution for x in c.values()) if delta_loss is None else delta_loss
    return judge(c, ww, delta_loss=dl, n_total=100, start=3, end=9, aligned=aligned)


def one_sentence(text: str) -> bool:
    return text.endswith(".") and text.count(". ") == 0 and text[0].isupper()


def test_supported():
    ww = np.full(20, 1.0) + np.linspace(0, 0.2, 20)  # sum 22: +0.22 of the +0.26 rise
    h = verdict(cells((70, 0.02, 0.03), (5, 0.03, 0.6), (5, -0.01, -0.2), (20, 0.22, 1.1)), ww)
    assert h.verdict == "supported"
    assert h.statement == (
        "Wrong predictions got more wrong: the 20 samples wrong at both epochs (20.0%) account "
        "for +0.220 of the +0.260 rise in mean loss (85%), and their loss changed by +1.10 "
        "nats each on average (p = 1e-06)."
    )
    assert h.p_value == pytest.approx(2.0**-20)
    assert one_sentence(h.statement)


def test_inconclusive_when_the_share_is_large_but_not_significant():
    ww = np.array([0.9, 1.1, -0.2, 0.5])  # sum 2.3: +0.023, more than the +0.015 rise
    h = verdict(
        cells((90, -0.01, -0.01), (3, 0.004, 0.13), (3, -0.002, -0.07), (4, 0.023, 0.575)), ww
    )
    assert h.verdict == "inconclusive"
    assert h.p_value == pytest.approx(2 / 16)
    assert h.statement == (
        "Wrong predictions may have got more wrong, but there are too few to tell: the 4 "
        "samples wrong at both epochs (4.0%) account for +0.023 of the +0.015 rise in mean loss "
        "(153%), yet their loss change of +0.57 nats each on average is not significant at "
        "0.05 (p = 0.12)."
    )
    assert one_sentence(h.statement)


def test_rejected_names_the_driver_in_true_words():
    ww = np.array([0.5, 0.6, 0.7, 0.8, 0.9, 1.0])  # sum 4.5: +0.045 of +0.135 = 33%
    h = verdict(cells((80, 0.08, 0.1), (8, 0.02, 0.25), (6, -0.01, -0.17), (6, 0.045, 0.75)), ww)
    assert h.verdict == "rejected"
    assert h.driver == "correct_to_correct"
    assert h.statement == (
        "The rise does not come mainly from wrong predictions getting more wrong: the 6 "
        "samples wrong at both epochs (6.0%) account for only +0.045 of the +0.135 rise in "
        "mean loss (33%), and the largest part comes from correct predictions losing "
        "confidence (+0.080)."
    )
    assert one_sentence(h.statement)


@pytest.mark.parametrize(
    ("case", "statement"),
    [
        (
            "fell",
            "Mean loss did not rise from epoch 3 to 9 (−0.050 nats), so there is no rise to "
            "explain.",
        ),
        (
            "no_ww",
            "No sample was wrong at both epoch 3 and epoch 9, so wrong predictions cannot have "
            "got more wrong; most of the +0.060 nats rise comes from correct predictions losing "
            "confidence (+0.050).",
        ),
        (
            "unaligned",
            "Samples cannot be followed across epochs, because labels differ between epochs and "
            "there are no sample ids (save sample ids with the predictions).",
        ),
    ],
)
def test_not_applicable(case, statement):
    ww = np.array([0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    some = cells((80, 0.08, 0.1), (8, 0.02, 0.25), (6, -0.01, -0.17), (6, 0.045, 0.75))
    if case == "fell":
        h = verdict(some, ww, delta_loss=-0.05)
    elif case == "no_ww":
        none = cells((90, 0.05, 0.055), (5, 0.02, 0.4), (5, -0.01, -0.2), (0, 0.0, None))
        h = verdict(none, np.array([]), delta_loss=0.06)
    else:
        h = judge(None, None, delta_loss=0.06, n_total=100, start=3, end=9, aligned=False)
    assert h.verdict == "not_applicable"
    assert h.statement == statement
    assert one_sentence(h.statement)
