"""The one line that heads a split's report in every format."""

from __future__ import annotations

from predaudit.render.numbers import count, counted
from predaudit.report.analyze import SplitAnalysis


def header_line(run: str, split: SplitAnalysis) -> str:
    """``run · split · N samples · C classes · epochs A–B · kind`` (and the ignored count)."""
    kind = split.input_kind + ("" if split.kind_detected else " (given)")
    e, unit = split.epochs, split.epoch_unit
    span = f"{unit}s {e[0]}–{e[-1]}" if len(e) > 1 else f"1 {unit} ({e[0]})"
    extra = f" · {count(split.n_ignored)} ignored" if split.n_ignored else ""
    # pre-reduced records with neither predictions nor labels know no classes (0)
    classes = f" · {split.n_classes} classes" if split.n_classes else ""
    return (
        f"{run} · {split.name} · {counted(split.n_samples, split.sample_unit)}"
        f"{classes} · {span} · {kind}{extra}"
    )
