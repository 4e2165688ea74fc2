"""The ``--top`` list of ``predaudit analyze``: its heading and cells, in every format."""

from __future__ import annotations

from predaudit.render.numbers import fixed, prob
from predaudit.render.safe import one_line
from predaudit.report.analyze import SplitAnalysis

TOP_HEADER = ("label", "pred", "loss", "p(true)")


def top_title(split: SplitAnalysis) -> str:
    """The heading of the ``--top`` list, or the line saying no loss rose."""
    c = split.comparison
    assert c is not None and split.top is not None
    a, b, unit = c.from_epoch, c.to_epoch, split.epoch_unit
    if not split.top:
        return f"No {split.sample_unit}'s loss rose from {unit} {a} to {b}."
    return f"{split.sample_unit.capitalize()}s whose loss rose most, {unit} {a} → {b}"


def top_rows(split: SplitAnalysis) -> list[list[str]]:
    """The cells of the ``--top`` list: the id (one line; ``(sequence, position)`` for
    tokens), label, prediction, loss and p(true) at both epochs."""
    tokens = split.sample_unit == "token"
    return [
        [
            f"({s.sequence}, {s.position})" if tokens else one_line(s.id),
            "—" if s.label is None else str(s.label),
            "—" if s.pred_from is None else f"{s.pred_from} → {s.pred_to}",
            f"{fixed(s.loss_from, 2)} → {fixed(s.loss_to, 2)}",
            f"{prob(s.p_true_from)} → {prob(s.p_true_to)}"
            if s.p_true_from == s.p_true_from  # NaN: records without p_true
            else "—",
        ]
        for s in split.top or []
    ]


def top_id_header(split: SplitAnalysis) -> str:
    """The first column's heading: ``id``, or ``(sequence, position)`` for tokens."""
    return "(sequence, position)" if split.sample_unit == "token" else "id"
