"""The number formatters, on cases checked by hand (literal expectations only)."""

from __future__ import annotations

import math

import pytest

from predaudit.render import numbers as n

NAN, INF = math.nan, math.inf


@pytest.mark.parametrize(
    ("x", "digits", "want"),
    [(0.12345, 3, "0.123"), (0.9996, 3, "1.000"), (2.0, 1, "2.0"), (-0.5, 2, "−0.50"),
     (None, 3, "–"), (NAN, 3, "nan"), (INF, 2, "inf")],
)  # fmt: skip
def test_fixed_keeps_nan_and_inf_visible(x, digits, want):
    assert n.fixed(x, digits) == want


@pytest.mark.parametrize(
    ("x", "kw", "want"),
    [(0.5, {}, "0.500"), (0.5, {"signed": True}, "+0.500"), (-0.125, {"signed": True}, "−0.125"),
     (0.0, {"digits": 2, "signed": True}, "+0.00"), (-0.0001, {"signed": True}, "−0.000"),
     (1.23456, {"digits": 2}, "1.23"), (None, {}, "–"), (NAN, {}, "–"), (INF, {}, "–"),
     (-INF, {"signed": True}, "–")],
)  # fmt: skip
def test_fixed_finite_dashes_what_is_not_a_number(x, kw, want):
    assert n.fixed_finite(x, **kw) == want


@pytest.mark.parametrize(
    ("x", "digits", "want"),
    [(0.01234, 4, "+0.0123"), (-0.5, 2, "−0.50"), (-0.00001, 4, "0.0000"), (0.00004, 4, "0.0000"),
     (0.00005001, 4, "+0.0001"), (-1.0, 6, "−1.000000")],
)  # fmt: skip
def test_signed_uses_the_typographic_minus_and_no_sign_on_zero(x, digits, want):
    assert n.signed(x, digits) == want


def test_signed_int():
    assert [n.signed_int(x) for x in (3, -2, 0, 1234)] == ["+3", "−2", "·", "+1234"]


@pytest.mark.parametrize(
    ("frac", "want"),
    [(1.0, "100%"), (0.9996, "99%"), (0.995, "99%"), (0.5, "50%"), (0.0995, "10%"),
     (0.0994, "9.9%"), (0.052, "5.2%"), (0.0005, "0.1%"), (0.0004, "<0.1%"), (0.0, "0%")],
)  # fmt: skip
def test_pct_never_claims_all_or_nothing_for_a_part(frac, want):
    assert n.pct(frac) == want


@pytest.mark.parametrize(
    ("x", "kw", "want"),
    [(0.9234, {}, "92.3%"), (0.5, {"digits": 0}, "50%"), (0.25, {"signed": True}, "+25.0%"),
     (-0.25, {"signed": True}, "−25.0%"), (-0.0001, {"signed": True}, "+0.0%"),
     (-0.0001, {}, "0.0%"), (None, {}, "–")],
)  # fmt: skip
def test_pct_fixed(x, kw, want):
    assert n.pct_fixed(x, **kw) == want


def test_share():
    assert n.share(1.0, 4.0) == "25%"
    assert n.share(-0.3, 1.0) == "−30%"
    assert n.share(-0.001, 1.0) == "0%"
    assert n.share(3.0, -4.0) == "−75%"
    assert n.share(1.0, 0.0) == "–"


def test_prob_fits_five_characters():
    assert [n.prob(p) for p in (0.28149, 1.0, 0.001, 0.0, 3.2e-05, 0.00099)] == [
        "0.281", "1.000", "0.001", "0.000", "3e-05", "1e-03",
    ]  # fmt: skip


def test_count_and_metric_value():
    assert [n.count(x) for x in (0, 999, 1000, 1234567)] == ["0", "999", "1,000", "1,234,567"]
    assert n.metric_value(0.912345678) == "0.912346"
    assert n.metric_value(1234567.0) == "1.23457e+06"
    assert n.metric_value(2.0) == "2"
    assert n.metric_value("supported") == "supported"
    assert n.metric_value(None) == "n/a"


def test_data_file_numbers():
    assert [n.full(x) for x in (0.1, 1, 1 / 3, 2.5e-300)] == [
        "0.1", "1.0", "0.3333333333333333", "2.5e-300",
    ]  # fmt: skip
    assert n.full_or_empty(None) == "" and n.full_or_empty(0.5) == "0.5"
    assert [n.metric_csv(x) for x in (None, "rejected", 0.25)] == ["", "rejected", "0.25"]
    assert n.exact(3.0, True) == "3" and n.exact(0.25, False) == "0.25"
    assert [n.g17(x) for x in (0.1, 1.0, 2.5, -0.0, 1e20, 1 / 3, INF, -INF, NAN)] == [
        "0.10000000000000001", "1", "2.5", "-0", "1e+20", "0.33333333333333331", "inf", "-inf",
        "",
    ]  # fmt: skip
