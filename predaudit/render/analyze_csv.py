"""The CSV files of :class:`predaudit.report.AnalyzeReport`: the per-epoch table of every
split (``--format csv``) and the per-sample values at the compared epochs
(``per_sample.csv`` in ``--out``).

Both are written with the standard library's :mod:`csv` (``\\n`` line ends, fields
quoted only when they hold a comma, a quote or a line break).
"""

from __future__ import annotations

import io

import numpy as np

from predaudit.render import safe
from predaudit.render.numbers import full, full_or_empty, g17
from predaudit.report.analyze import AnalyzeReport, SplitAnalysis

EPOCH_COLUMNS = (
    "split",
    "epoch",
    "n_samples",
    "loss",
    "accuracy",
    "n_correct",
    "loss_correct",
    "loss_wrong",
    "contribution_correct",
    "contribution_wrong",
)


def analyze_csv(report: AnalyzeReport) -> str:
    """The per-epoch table of every split; floats in full (``repr``), empty for none."""
    buf = io.StringIO()
    w = safe.writer(buf)
    w.writerow(EPOCH_COLUMNS)
    for split in report.splits.values():
        for r in split.per_epoch:
            w.writerow(
                [
                    split.name,
                    r.epoch,
                    r.n_samples,
                    full(r.loss),
                    full(r.accuracy),
                    r.n_correct,
                    full_or_empty(r.loss_correct),
                    full_or_empty(r.loss_wrong),
                    full(r.contribution_correct),
                    full(r.contribution_wrong),
                ]
            )
    return buf.getvalue()


def column_text(values: np.ndarray) -> list[str]:
    """The CSV fields of a column: floats as ``%.17g`` (:func:`~predaudit.render.numbers.g17`,
    empty for NaN), booleans as ``True``/``False``, integers and strings as they print.

    >>> column_text(np.array([0.1, np.nan, 2.0])), column_text(np.array([True, False]))
    (['0.10000000000000001', '', '2'], ['True', 'False'])
    >>> column_text(np.array([7, -1], dtype=np.int8)), column_text(np.array(["a,b", "c"]))
    (['7', '-1'], ['a,b', 'c'])
    """
    items = values.tolist()  # Python floats, ints, bools and strs
    if values.dtype.kind == "f":
        return [g17(x) for x in items]
    return [str(x) for x in items]


def per_sample_csv(split: SplitAnalysis) -> str:
    """Per sample at the compared epochs: id, label, loss/pred/correct at both, Δloss, cell."""
    s = split.samples
    c = split.comparison
    assert s is not None and c is not None
    a, b = c.from_epoch, c.to_epoch
    columns = {
        "id": s.ids,
        "label": s.labels,
        f"loss_{a}": s.loss_from,
        f"loss_{b}": s.loss_to,
        f"pred_{a}": s.pred_from,
        f"pred_{b}": s.pred_to,
        f"correct_{a}": s.correct_from,
        f"correct_{b}": s.correct_to,
        "delta_loss": s.delta,
        "cell": s.cell,
    }
    buf = io.StringIO()
    w = safe.writer(buf)
    w.writerow(columns)
    w.writerows(zip(*(column_text(np.asarray(v)) for v in columns.values()), strict=True))
    return buf.getvalue()
