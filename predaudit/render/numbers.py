"""Number formatting for every renderer, defined once.

Where two renderers format numbers differently on purpose, both behaviours are
here under their own names; pick by the output, not by the caller:

- fixed decimals: :func:`fixed` (``–`` for a missing value) and
  :func:`fixed_finite` (``–`` also for NaN and ±inf, optional ``+``), both with the
  typographic minus;
- signs: :func:`signed` and :func:`signed_int` use the typographic minus (U+2212)
  and print zero without a sign (``0.0000``, ``·``); ``fixed_finite(x, signed=True)``
  keeps the sign of zero (``+0.000``/``−0.125``: ``analyze``'s columns line up on it);
  every table shows the typographic minus, CSV and JSON the ASCII one;
- percentages: :func:`pct` is short and never claims 0% or 100% for a partial share
  (matrix cells), :func:`pct_fixed` has fixed decimals (``analyze``'s, ``calibration``'s
  and ``dynamics``' tables),
  :func:`share` is a whole-number share of a total with the typographic minus;
- data files: :func:`full` is the shortest string that reads back as the same float
  (``repr``: ``0.1``, ``1.0``), :func:`g17` is C's ``%.17g`` (``0.10000000000000001``,
  ``1``), the format ``per_sample.csv`` has always had.
"""

from __future__ import annotations

import math

from predaudit.report.protocol import Value

DASH = "–"
"""A missing value in a table (en dash)."""
MINUS = "−"
"""The typographic minus sign (U+2212) of :func:`signed`, :func:`signed_int` and :func:`share`."""


def count(n: int) -> str:
    """A count with thousands separators: ``12,345``."""
    return f"{n:,}"


def counted(n: int, unit: str) -> str:
    """``n`` and its unit, singular for one.

    >>> counted(1, "sample"), counted(1347, "sample"), counted(0, "token")
    ('1 sample', '1,347 samples', '0 tokens')
    """
    return f"{count(n)} {unit}" + ("" if n == 1 else "s")


def fixed(x: float | None, digits: int = 3) -> str:
    """``x`` with ``digits`` decimals, a negative one with the typographic minus; ``–`` for
    None. NaN and inf print as ``nan``/``inf``.

    >>> fixed(0.12345), fixed(-2.5, 1), fixed(None)
    ('0.123', '−2.5', '–')
    """
    return DASH if x is None else f"{x:.{digits}f}".replace("-", MINUS)


def fixed_finite(x: float | None, digits: int = 3, signed: bool = False) -> str:
    """``x`` with ``digits`` decimals, ``+`` in front when ``signed``, ``−`` (U+2212) for a
    negative one; ``–`` for None and for a non-finite float.

    >>> fixed_finite(-0.5), fixed_finite(-0.125, signed=True), fixed_finite(0.0, 2, signed=True)
    ('−0.500', '−0.125', '+0.00')
    >>> fixed_finite(float("inf")), fixed_finite(None)
    ('–', '–')
    """
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return DASH
    return (f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}").replace("-", MINUS)


def signed(x: float, digits: int = 4) -> str:
    """``x`` with a sign and ``digits`` decimals, typographic minus; a value that rounds
    to zero has no sign.

    >>> signed(0.01234), signed(-0.5, 2), signed(-0.00001)
    ('+0.0123', '−0.50', '0.0000')
    """
    s = f"{x:+.{digits}f}"
    return f"{0:.{digits}f}" if float(s) == 0 else s.replace("-", MINUS)


def signed_int(x: int) -> str:
    """An integer change: ``+3``, ``−2`` (typographic minus), ``·`` for none.

    >>> signed_int(3), signed_int(-2), signed_int(0)
    ('+3', '−2', '·')
    """
    return "·" if x == 0 else f"{x:+d}".replace("-", MINUS)


def pct(frac: float) -> str:
    """A fraction as a short percentage: ``100%``, ``94%``, ``5.2%``, ``<0.1%``, ``0%``.

    Never rounds up to 100% or down to 0%.

    >>> [pct(x) for x in (1.0, 0.9996, 0.052, 0.0004, 0.0)]
    ['100%', '99%', '5.2%', '<0.1%', '0%']
    """
    p = frac * 100.0
    if p == 0:
        return "0%"
    if p >= 100:
        return "100%"
    if p >= 9.95:
        return f"{min(round(p), 99)}%"
    if p < 0.05:
        return "<0.1%"
    return f"{p:.1f}%"


def pct_fixed(x: float | None, digits: int = 1, signed: bool = False) -> str:
    """A fraction as a percentage with ``digits`` decimals, ``+`` in front when ``signed``
    (``−``, U+2212, for a negative one); ``–`` for None and for a non-finite float; a
    value that rounds to zero prints as zero (no ``-0%``).

    >>> pct_fixed(0.9234), pct_fixed(0.5, 0), pct_fixed(-0.0001, signed=True), pct_fixed(None)
    ('92.3%', '50%', '+0.0%', '–')
    """
    if x is None or not math.isfinite(x):
        return DASH
    if round(100 * x, digits) == 0:
        x = 0.0  # no "-0%"
    text = f"{100 * x:+.{digits}f}%" if signed else f"{100 * x:.{digits}f}%"
    return text.replace("-", MINUS)


def share(part: float, total: float) -> str:
    """``part`` as a whole-number percentage of ``total``, typographic minus; ``–`` when
    ``total`` is zero; a share that rounds to zero prints as ``0%``.

    >>> share(1.0, 4.0), share(-0.3, 1.0), share(-0.001, 1.0), share(1.0, 0.0)
    ('25%', '−30%', '0%', '–')
    """
    if total == 0:
        return DASH
    s = f"{100.0 * part / total:.0f}"
    return ("0" if float(s) == 0 else s.replace("-", MINUS)) + "%"


def prob(p: float) -> str:
    """A probability in 5 characters: ``0.281``, or ``3e-05`` when tiny.

    >>> prob(0.28149), prob(0.0), prob(3.2e-05)
    ('0.281', '0.000', '3e-05')
    """
    return f"{p:.3f}" if p >= 1e-3 or p == 0 else f"{p:.0e}"


def metric_value(x: Value) -> str:
    """A metric value for people: 6 significant digits, verdict words as is, None as n/a.

    >>> metric_value(0.912345678), metric_value("supported"), metric_value(None)
    ('0.912346', 'supported', 'n/a')
    """
    if x is None:
        return "n/a"
    if isinstance(x, str):
        return x
    return f"{x:.6g}"


def full(x: float) -> str:
    """A float in full: the shortest text that reads back as the same float (``repr``).

    >>> full(0.1), full(1), full(2.5e-300)
    ('0.1', '1.0', '2.5e-300')
    """
    return repr(float(x))


def full_or_empty(x: float | None) -> str:
    """:func:`full`, or the empty string for None (an empty CSV field)."""
    return "" if x is None else full(x)


def metric_csv(x: Value) -> str:
    """A metric value in a CSV field: :func:`full`, verdict words as is, empty for None."""
    return x if isinstance(x, str) else full_or_empty(x)


def exact(x: float, integral: bool) -> str:
    """A matrix value in a CSV field: an integer count when ``integral``, else :func:`full`.

    >>> exact(3.0, True), exact(0.25, False)
    ('3', '0.25')
    """
    return str(int(x)) if integral else full(x)


def g17(x: float) -> str:
    """C's ``%.17g`` (17 significant digits, no trailing zeros); empty for NaN.

    >>> g17(0.1), g17(1.0), g17(1e20), g17(float("-inf")), g17(float("nan"))
    ('0.10000000000000001', '1', '1e+20', '-inf', '')
    """
    return "" if x != x else f"{x:.17g}"


def temperature(t: float, status: str = "converged") -> str:
    """A fitted temperature: two decimals, or three significant digits below 0.01 (so the
    lower bound 0.001 does not print as 0.00). A fit that ran to a bound of its range
    (``status`` ``"upper_bound"`` / ``"lower_bound"``: the loss keeps falling beyond it)
    is not a fitted value: it shows as ``≥`` / ``≤`` the bound.

    >>> temperature(1.2645), temperature(3.267), temperature(0.001)
    ('1.26', '3.27', '0.001')
    >>> temperature(1000.0, "upper_bound"), temperature(0.001, "lower_bound")
    ('≥1000', '≤0.001')
    """
    if status == "upper_bound":
        return f"≥{t:g}"
    if status == "lower_bound":
        return f"≤{t:g}"
    return f"{t:.2f}" if t >= 0.01 else f"{t:.3g}"


BOUND_NOTE = "T* ≥/≤: the end of the fit's range; the loss keeps falling beyond it."
"""The note under a table that shows a temperature at a bound."""


def temperatures(fits: tuple[tuple[float, str], tuple[float, str]]) -> str:
    """``T* a → b`` from two ``(T*, fit status)``.

    >>> temperatures(((1000.0, "upper_bound"), (2.7, "converged")))
    'T* ≥1000 → 2.70'
    """
    (a, sa), (b, sb) = fits
    return f"T* {temperature(a, sa)} → {temperature(b, sb)}"


def undo_phrase(share: float, temps: str, rise: str = "the rise") -> str:
    """What a single temperature would undo of ``rise``, from ``temperature_share`` (ΔG / ΔL),
    with ``temps`` (``T* a → b``) in parentheses.

    A negative share means the rise is larger at the fitted temperatures than at T = 1:
    the temperature undoes none of it (the share is kept, in the parentheses).

    >>> undo_phrase(0.4, "T* 1.2 → 2.0")
    '40% of the rise (T* 1.2 → 2.0)'
    >>> undo_phrase(-0.22, "T* 0.68 → 1.10")
    'none of the rise (−22%: it is larger at the fitted temperatures, T* 0.68 → 1.10)'
    """
    pct = f"{100 * share:.0f}%".replace("-", MINUS)
    if share < 0:
        return f"none of {rise} ({pct}: it is larger at the fitted temperatures, {temps})"
    return f"{pct} of {rise} ({temps})"


def at_bound(status: str) -> bool:
    """A fit that ran to a bound of its range."""
    return status in ("upper_bound", "lower_bound")
