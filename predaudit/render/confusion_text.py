"""The text renderers of :class:`predaudit.report.confusion.ConfusionReport`: Markdown and CSV.

Markdown has a section per split (over ``MATRIX_MAX_CLASSES`` classes without the
matrix, which goes to CSV); CSV is the full matrix of one split.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from predaudit.render import markdown, safe
from predaudit.render.confusion_common import (
    NORMALIZE_TEXT,
    MatrixCsv,
    class_changes,
    class_order,
    matrix_note,
    no_changes,
    no_pairs,
    rows_note,
    show_matrix,
    title,
)
from predaudit.render.losses import loss_note
from predaudit.render.numbers import exact, fixed, pct, share, signed, signed_int
from predaudit.report.confusion import (
    ConfusionDiff,
    ConfusionReport,
    SplitConfusion,
    normalize_matrix,
)
from predaudit.report.confusion_cells import dense_allowed

# -- CSV -----------------------------------------------------------------------------------


def matrix_csv(s: SplitConfusion, *, diff: bool | None = None) -> str:
    """The matrix of one split as CSV: a header of predicted labels, one row per true label.

    Counts with ``normalize="none"``, fractions otherwise; with a diff (unless
    ``diff=False``) the change from the diff's first epoch to its second. Over
    ``DENSE_MAX_CLASSES`` classes: :func:`cells_csv` instead.
    """
    e = s.epoch
    use_diff = s.diff is not None if diff is None else diff and s.diff is not None
    if not dense_allowed(s.n_classes):
        return cells_csv(s, diff=use_diff)
    if use_diff:
        assert s.diff is not None
        if s.normalize == "none":
            values = s.diff.matrix
        else:
            # The same normalisation at both epochs, then the difference.
            before = e.matrix - s.diff.matrix
            values = normalize_matrix(e.matrix, s.normalize) - normalize_matrix(before, s.normalize)
    else:
        values = e.matrix if s.normalize == "none" else e.normalized(s.normalize)
    integral = s.normalize == "none"
    buf = io.StringIO()
    w = safe.writer(buf)
    w.writerow(["true\\pred", *(str(x) for x in e.labels)])
    for lab, row in zip(e.labels, values, strict=True):
        w.writerow([str(lab), *(exact(v, integral) for v in row)])
    return buf.getvalue()


def cells_csv(s: SplitConfusion, *, diff: bool) -> str:
    """The matrix as one CSV row per cell, for any number of classes (memory O(cells)).

    At an epoch: the nonzero cells, ``true,predicted,count`` (and the cell's
    normalised value, ``fraction``, unless ``normalize`` is none); with ``diff``:
    the cells whose count changed, ``true,predicted,count_from,count_to,change``.
    Rows sorted by true class, then predicted class; a cell not listed is 0
    (unchanged). Labels are the class names (or indices).
    """
    labels = [str(x) for x in s.epoch.labels]
    buf = io.StringIO()
    w = safe.writer(buf)
    if diff:
        assert s.diff is not None
        m = s.diff.cells
        w.writerow(["true", "predicted", "count_from", "count_to", "change"])
        for t, p, a, b in zip(m.true, m.pred, m.count_from, m.count_to, strict=True):
            w.writerow([labels[t], labels[p], str(a), str(b), str(b - a)])
        return buf.getvalue()
    c = s.epoch.cells
    if s.normalize == "none":
        w.writerow(["true", "predicted", "count"])
        for t, p, n in zip(c.true, c.pred, c.count, strict=True):
            w.writerow([labels[t], labels[p], str(n)])
        return buf.getvalue()
    w.writerow(["true", "predicted", "count", "fraction"])
    for t, p, n, f in zip(c.true, c.pred, c.count, c.normalized(s.normalize), strict=True):
        w.writerow([labels[t], labels[p], str(n), exact(f, False)])
    return buf.getvalue()


def confusion_csv(report: ConfusionReport, *, csv_paths: MatrixCsv | None = None) -> str:
    """The matrix of the report's one split as CSV (several splits: ``ValueError``)."""
    del csv_paths
    if len(report.splits) != 1:
        raise ValueError("CSV holds the matrix of one split: choose one")
    (s,) = report.splits.values()
    return matrix_csv(s)


# -- Markdown ------------------------------------------------------------------------------


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]], right: int = 1) -> list[str]:
    """A table with every cell escaped, its first ``right`` columns left-aligned, then a blank."""
    alignment = markdown.align(right, len(header))
    return [*markdown.table(header, rows, alignment, escape=True), ""]


def _md_split(report: ConfusionReport, s: SplitConfusion, csv_at: MatrixCsv | None) -> list[str]:
    tail = markdown.text(title(report, s).rsplit(" · ", 1)[1])
    out = [f"## {markdown.code(report.run)} · split {markdown.code(s.name)} · " + tail, ""]
    if note := loss_note(s.n_clipped, s.n_floored, s.clip):
        out += [note, ""]
    if s.diff is not None:
        return out + _md_diff(s, s.diff, csv_at)
    return out + _md_epoch(s, csv_at)


def _md_diff(s: SplitConfusion, d: ConfusionDiff, csv_at: MatrixCsv | None) -> list[str]:
    """The change between two epochs: matrix, confusions that grew and shrank, loss by class."""
    e = s.epoch
    names = [str(x) for x in e.labels]
    out = [
        f"Mean loss {fixed(d.loss_from, 4)} → {fixed(d.loss_to, 4)} "
        f"({signed(d.delta_loss)} nats); "
        f"accuracy {fixed(d.accuracy_from, 4)} → {fixed(d.accuracy_to, 4)} "
        f"({signed(d.delta_accuracy)}).",
        "",
    ]
    if show_matrix(s):
        out += ["### Change in the confusion matrix (rows = true, columns = predicted)", ""]
        rows = []
        for k, lab in enumerate(names):
            cells = [signed_int(int(x)) for x in d.matrix[k]]
            cells[k] = f"**{cells[k]}**"
            rows.append([lab, *cells])
        out += _md_table(["true \\ pred", *names], rows)
    else:
        out += [matrix_note(s, csv_at), ""]
    out += ["### Confusions that grew and shrank most", ""]
    rows = [
        [str(p.true), str(p.pred), str(p.count_from), str(p.count_to), signed_int(p.change)]
        for p in (*d.grew, *d.shrank)
    ]
    if rows:
        out += _md_table(
            ["true", "predicted", f"epoch {d.from_epoch}", f"epoch {d.to_epoch}", "change"],
            rows,
            right=2,
        )
    else:
        out += [no_changes(d), ""]
    out += ["### Change in mean loss by true class (nats)", ""]
    rows = [
        [
            str(c.label),
            str(c.support_to),
            f"{fixed(c.recall_from)} → {fixed(c.recall_to)}",
            f"{fixed(c.mean_loss_from)} → {fixed(c.mean_loss_to)}",
            signed(c.delta_contribution, 6),
            share(c.delta_contribution, d.delta_loss),
        ]
        for c in class_changes(s)
    ]
    rows.append(
        ["**all**", str(e.n_samples), f"{fixed(d.accuracy_from)} → {fixed(d.accuracy_to)}",
         f"{fixed(d.loss_from)} → {fixed(d.loss_to)}", signed(d.delta_loss, 6), "100%"]
    )  # fmt: skip
    out += _md_table(
        ["class", "support", "recall", "mean loss", "contribution", "share of ΔL"], rows
    )
    if note := rows_note(s):
        out += [note, ""]
    return out


def _md_epoch(s: SplitConfusion, csv_at: MatrixCsv | None) -> list[str]:
    """One epoch: matrix, per-class table with the averages, top confusions."""
    e = s.epoch
    names = [str(x) for x in e.labels]
    ignored = f"; {s.n_ignored} {s.sample_unit}s ignored (label -100)" if s.n_ignored else ""
    out = [
        f"Accuracy {fixed(e.accuracy, 4)} ({e.n_correct} of {e.n_samples}); "
        f"mean loss {fixed(e.loss, 4)} nats{ignored}.",
        "",
    ]
    if show_matrix(s):
        frac = e.normalized("true" if s.normalize == "none" else s.normalize)
        out += [
            "### Confusion matrix (rows = true, columns = predicted; "
            f"count ({NORMALIZE_TEXT[s.normalize]}))",
            "",
        ]
        rows = []
        for k, lab in enumerate(names):
            cells = [
                f"{int(n)} ({pct(float(f))})" if n else "0"
                for n, f in zip(e.matrix[k], frac[k], strict=True)
            ]
            cells[k] = f"**{cells[k]}**"
            rows.append([lab, *cells, str(int(e.matrix[k].sum()))])
        out += _md_table(["true \\ pred", *names, "total"], rows)
    else:
        out += [matrix_note(s, csv_at), ""]
    by_f1 = not show_matrix(s)
    out += ["### Per class" + (" (sorted by F1, worst first)" if by_f1 else ""), ""]
    rows = [
        [str(r.label), str(r.support), fixed(r.precision), fixed(r.recall), fixed(r.f1),
         fixed(r.mean_loss), fixed(r.contribution, 4)]
        for r in class_order(e.per_class, by_f1)
    ]  # fmt: skip
    rows.append(["**all**", str(e.n_samples), "", "", "", fixed(e.loss), fixed(e.loss, 4)])
    rows.append(["macro avg", "", fixed(e.macro.precision), fixed(e.macro.recall),
                 fixed(e.macro.f1), "", ""])  # fmt: skip
    rows.append(["weighted avg", "", fixed(e.weighted.precision), fixed(e.weighted.recall),
                 fixed(e.weighted.f1), "", ""])  # fmt: skip
    out += _md_table(
        ["class", "support", "precision", "recall", "F1", "mean loss", "contribution"], rows
    )
    if note := rows_note(s):
        out += [note, ""]
    out += ["### Top confusions", ""]
    if e.top_confusions:
        rows = [
            [str(p.true), str(p.pred), str(p.count), pct(p.share_of_true), fixed(p.mean_loss)]
            for p in e.top_confusions
        ]
        out += _md_table(["true", "predicted", "count", "% of true", "mean loss"], rows, right=2)
    else:
        out += [no_pairs(s), ""]
    return out


def confusion_markdown(report: ConfusionReport, *, csv_paths: MatrixCsv | None = None) -> str:
    """Every split in turn, as Markdown sections."""
    out = [f"# predaudit confusion {markdown.code(report.run)}", ""]
    for s in report.splits.values():
        out += _md_split(report, s, csv_paths)
    return "\n".join(out).rstrip("\n") + "\n"
