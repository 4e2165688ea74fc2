"""Numbers and phrases for figure titles (losses in nats, percentages, counts)."""

from __future__ import annotations


def _num(x: float) -> str:
    """A loss in nats for a title: 3 significant digits, no scientific notation above 1e-3."""
    ax = abs(x)
    if ax == 0:
        return "0"
    if ax >= 100:
        return f"{x:,.0f}"
    if ax >= 1e-3:
        return f"{x:#.3g}".rstrip(".")
    return f"{x:.2g}"


def _signed(x: float) -> str:
    return ("+" if x >= 0 else "−") + _num(abs(x))


def _pct(frac: float, *, other: float | None = None) -> str:
    """``0.943 -> '94%'``; one decimal when whole percents would hide a difference.

    Never rounds to 0% or 100% what is not: ``'<0.1%'``, ``'>99.9%'``.
    """
    whole = f"{100 * frac:.0f}%"
    if (other is not None and f"{100 * other:.0f}%" == whole and other != frac) or (
        whole in ("0%", "100%") and 0 < frac < 1
    ):
        tenth = f"{100 * frac:.1f}%"
        if tenth == "100.0%" and frac < 1:
            return ">99.9%"
        if tenth == "0.0%" and frac > 0:
            return "<0.1%"
        return tenth
    return whole


def _signed_pct(frac: float) -> str:
    return ("+" if frac >= 0 else "−") + f"{abs(100 * frac):.0f}%"


def _count(n: int) -> str:
    return f"{n:,}"


def _rose(d: float) -> str:
    return "rose" if d > 0 else "fell"


def _accuracy_phrase(a: float, b: float) -> str:
    if abs(b - a) < 0.005:
        return f"accuracy stayed at {_pct(b)}"
    return f"accuracy {_rose(b - a)} from {_pct(a, other=b)} to {_pct(b, other=a)}"
