"""Renderers of :class:`predaudit.analysis.confusion.ConfusionReport`.

Every function takes the report (and, keyword-only, ``csv_paths``: where the full
matrices were written as CSV) and returns a Rich renderable or a string; none of them prints.
The terminal table fits 80 columns for 10 classes; over ``MATRIX_MAX_CLASSES``
classes the matrix is left out of the table and Markdown (it goes to CSV) and the
per-class table is sorted by F1, worst first.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from predaudit.render import OutputFormat, to_json
from predaudit.report.confusion import (
    ClassChange,
    ClassRow,
    ConfusionDiff,
    ConfusionReport,
    EpochConfusion,
    Label,
    SplitConfusion,
    normalize_matrix,
)

MATRIX_MAX_CLASSES = 20
"""Above this many classes the matrix is not drawn in the terminal or in Markdown."""
ROW_LABEL_WIDTH = 12
"""Widest class name in the first column of a table (longer names are shortened)."""
CELL_WIDTH = 5
"""Widest class name heading a matrix column (at least the width of the numbers)."""
NORMALIZE_TEXT = {
    "none": "% of the true class",
    "true": "% of the true class",
    "pred": "% of the predicted class",
    "all": "% of all samples",
}

DIAGONAL = "bold green"
MatrixCsv = dict[str, str]
"""Split name -> where its full matrix was written as CSV."""


# -- formatting helpers --------------------------------------------------------------------


def shorten(name: str, width: int) -> str:
    """``name`` cut to ``width`` characters with an ellipsis.

    The ellipsis goes in the middle, keeping a third of the kept characters from
    the end (names often differ at the end: ``resnet_block_3``), except in narrow
    columns (under 8) where the start alone reads better.

    >>> shorten("n01440764_tench", 9)
    'n01440…ch'
    >>> shorten("automobile", 5)
    'auto…'
    >>> shorten("cat", 5)
    'cat'
    """
    if len(name) <= width:
        return name
    if width <= 1:
        return "…"[:width]
    keep = width - 1
    tail = keep // 3 if width >= 8 else 0
    return name[: keep - tail] + "…" + (name[-tail:] if tail else "")


def _label(x: Label, width: int = ROW_LABEL_WIDTH) -> str:
    return shorten(str(x), width)


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


def _num(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _signed(x: float, digits: int = 4) -> str:
    s = f"{x:+.{digits}f}"
    return f"{0:.{digits}f}" if float(s) == 0 else s.replace("-", "−")


def _signed_int(x: int) -> str:
    return "·" if x == 0 else f"{x:+d}".replace("-", "−")


def _title(report: ConfusionReport, s: SplitConfusion) -> str:
    if s.diff is not None:
        when = f"epoch {s.diff.from_epoch} → {s.diff.to_epoch}"
    else:
        when = f"epoch {s.epoch.epoch}"
    return f"{report.run} · split {s.name} · {when}"


def _show_matrix(s: SplitConfusion) -> bool:
    return s.n_classes <= MATRIX_MAX_CLASSES


def _matrix_note(s: SplitConfusion, csv_paths: MatrixCsv | None) -> str:
    where = (csv_paths or {}).get(s.name)
    matrix = "change in the confusion matrix" if s.diff is not None else "confusion matrix"
    what = f"The {s.n_classes}×{s.n_classes} {matrix} is not shown"
    if where:
        return f"{what}; it was written to {where}."
    return f"{what}: print it with --format csv, or write it with --out DIR."


# -- the terminal (Rich) -------------------------------------------------------------------


def _table(title: str | None = None, *, gap: int = 2) -> RenderableType:
    """A borderless table whose columns are ``gap`` spaces apart."""
    return Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, gap - 1, 0, 0),
        pad_edge=False,
    )


def _titled(t: Table) -> RenderableType:
    """The table under its title on a line of its own (a Rich title wraps at the table's width)."""
    if not t.title:
        return t
    title, t.title = str(t.title), None
    return Group(Text(title, style="bold"), t)


def matrix_table(s: SplitConfusion) -> RenderableType:
    """Counts with a percentage under each (per ``--normalize``; row % by default)."""
    e = s.epoch
    labels = e.labels
    frac = e.normalized("true" if s.normalize == "none" else s.normalize)
    width = max(CELL_WIDTH, len(str(int(e.matrix.max(initial=0)))))
    t = _table(
        f"Confusion matrix (rows true, columns predicted): count, {NORMALIZE_TEXT[s.normalize]}",
        gap=1,
    )
    t.add_column("true", no_wrap=True)
    for lab in labels:
        t.add_column(_label(lab, width), justify="right", no_wrap=True, min_width=width)
    t.add_column("total", justify="right", no_wrap=True, style="dim", min_width=width + 1)
    for k, lab in enumerate(labels):
        cells: list[RenderableType] = [_label(lab)]
        for j in range(len(labels)):
            n = int(e.matrix[k, j])
            if n == 0:
                cell = Text("·", style="dim")
            else:
                cell = Text(f"{n}\n")
                cell.append(pct(float(frac[k, j])), style="dim")
            if k == j:
                cell.stylize(DIAGONAL)
            cells.append(cell)
        cells.append(str(int(e.matrix[k].sum())))
        t.add_row(*cells, end_section=False)
    return _titled(t)


def _class_order(rows: Sequence[ClassRow], by_f1: bool) -> list[ClassRow]:
    return sorted(rows, key=lambda r: (r.f1, r.index)) if by_f1 else list(rows)


def per_class_table(s: SplitConfusion) -> RenderableType:
    """Support, precision, recall, F1, mean loss and contribution to the mean loss."""
    e = s.epoch
    by_f1 = not _show_matrix(s)
    title = "Per class" + (" (sorted by F1, worst first)" if by_f1 else "")
    t = _table(title)
    t.add_column("class", no_wrap=True)
    for name in ("support", "precision", "recall", "F1", "mean loss", "contribution"):
        t.add_column(name, justify="right", no_wrap=True)
    for r in _class_order(e.per_class, by_f1):
        t.add_row(
            _label(r.label),
            f"{r.support:,}",
            _num(r.precision),
            _num(r.recall),
            _num(r.f1),
            _num(r.mean_loss),
            _num(r.contribution, 4),
        )
    t.add_section()
    t.add_row("all", f"{e.n_samples:,}", "", "", "", _num(e.loss), _num(e.loss, 4), style="bold")
    return _titled(t)


def summary_table(s: SplitConfusion) -> RenderableType:
    """Accuracy and the macro and weighted averages."""
    e = s.epoch
    t = _table()
    t.add_column("", no_wrap=True)
    for name in ("precision", "recall", "F1"):
        t.add_column(name, justify="right", no_wrap=True)
    t.add_row("macro avg", _num(e.macro.precision), _num(e.macro.recall), _num(e.macro.f1))
    t.add_row(
        "weighted avg", _num(e.weighted.precision), _num(e.weighted.recall), _num(e.weighted.f1)
    )
    return _titled(t)


def _headline(s: SplitConfusion) -> Text:
    e = s.epoch
    text = Text()
    text.append("accuracy ", style="bold")
    text.append(f"{e.accuracy:.4f}")
    text.append(f" ({int(e.matrix.trace()):,} of {e.n_samples:,})")
    text.append("   mean loss ", style="bold")
    text.append(f"{e.loss:.4f} nats")
    if s.n_ignored:
        text.append(f"   ignored (-100) {s.n_ignored:,}", style="dim")
    return text


def pairs_table(s: SplitConfusion) -> RenderableType:
    """The most frequent confusions: true → predicted, count, % of the true class, mean loss."""
    pairs = s.epoch.top_confusions
    if not pairs:
        return Text(_no_pairs(s))
    t = _table("Top confusions")
    t.add_column("true", no_wrap=True)
    t.add_column("", no_wrap=True)
    t.add_column("predicted", no_wrap=True)
    t.add_column("count", justify="right", no_wrap=True)
    t.add_column("% of true", justify="right", no_wrap=True)
    t.add_column("mean loss", justify="right", no_wrap=True)
    for p in pairs:
        t.add_row(
            _label(p.true), "→", _label(p.pred), f"{p.count:,}", pct(p.share_of_true),
            _num(p.mean_loss),
        )  # fmt: skip
    return _titled(t)


def diff_matrix_table(s: SplitConfusion) -> RenderableType:
    """The count difference (to − from), diagonal highlighted."""
    d = s.diff
    assert d is not None
    labels = s.epoch.labels
    width = max(CELL_WIDTH, *(len(_signed_int(int(x))) for x in d.matrix.ravel()))
    t = _table(
        f"Change in the confusion matrix, epoch {d.from_epoch} → {d.to_epoch} "
        "(rows true, columns predicted)",
        gap=1,
    )
    t.add_column("true", no_wrap=True)
    for lab in labels:
        t.add_column(_label(lab, width), justify="right", no_wrap=True, min_width=width)
    for k, lab in enumerate(labels):
        cells: list[RenderableType] = [_label(lab)]
        for j in range(len(labels)):
            cell = Text(_signed_int(int(d.matrix[k, j])))
            if k == j:
                cell.stylize(DIAGONAL)
            elif d.matrix[k, j] == 0:
                cell.stylize("dim")
            cells.append(cell)
        t.add_row(*cells)
    return _titled(t)


def _no_pairs(s: SplitConfusion) -> str:
    if int(s.epoch.matrix.trace()) == s.epoch.n_samples:
        return "No confusions: every sample is predicted as its true class."
    return "Top confusions: none listed (--top 0)."


def _no_changes(d: ConfusionDiff) -> str:
    off = d.matrix.copy()
    off.flat[:: off.shape[0] + 1] = 0
    if not off.any():
        return "No confusion changed in count."
    return "Confusions that grew and shrank: none listed (--top 0)."


def changes_table(d: ConfusionDiff) -> RenderableType:
    """The confusions that grew and shrank most."""
    if not d.grew and not d.shrank:
        return Text(_no_changes(d))
    t = _table("Confusions that grew and shrank most")
    t.add_column("true", no_wrap=True)
    t.add_column("", no_wrap=True)
    t.add_column("predicted", no_wrap=True)
    t.add_column(f"epoch {d.from_epoch}", justify="right", no_wrap=True)
    t.add_column(f"epoch {d.to_epoch}", justify="right", no_wrap=True)
    t.add_column("change", justify="right", no_wrap=True)
    for group in (d.grew, d.shrank):
        for p in group:
            t.add_row(
                _label(p.true), "→", _label(p.pred), f"{p.count_from:,}", f"{p.count_to:,}",
                _signed_int(p.change),
            )  # fmt: skip
        if group and group is d.grew:
            t.add_section()
    return _titled(t)


def _share(c: float, total: float) -> str:
    if total == 0:
        return "–"
    share = f"{100.0 * c / total:.0f}"
    return ("0" if float(share) == 0 else share.replace("-", "−")) + "%"


def _class_changes(s: SplitConfusion) -> list[ClassChange]:
    d = s.diff
    assert d is not None
    if _show_matrix(s):
        return list(d.per_class)
    return sorted(d.per_class, key=lambda c: (-c.delta_contribution, c.index))


def loss_change_table(s: SplitConfusion) -> RenderableType:
    """ΔL split by true class: the contributions sum to ΔL."""
    d = s.diff
    assert d is not None
    order = "" if _show_matrix(s) else ", largest first"
    t = _table(
        f"Change in mean loss by true class, epoch {d.from_epoch} → {d.to_epoch} (nats{order})"
    )
    t.add_column("class", no_wrap=True)
    t.add_column("support", justify="right", no_wrap=True)
    t.add_column("recall", justify="right", no_wrap=True)
    t.add_column("mean loss", justify="right", no_wrap=True)
    t.add_column("contribution", justify="right", no_wrap=True)
    t.add_column("share", justify="right", no_wrap=True)
    for c in _class_changes(s):
        t.add_row(
            _label(c.label),
            f"{c.support_to:,}",
            f"{_num(c.recall_from, 2)}→{_num(c.recall_to, 2)}",
            f"{_num(c.mean_loss_from, 2)}→{_num(c.mean_loss_to, 2)}",
            _signed(c.delta_contribution),
            _share(c.delta_contribution, d.delta_loss),
        )
    t.add_section()
    t.add_row(
        "all",
        f"{s.epoch.n_samples:,}",
        f"{_num(d.accuracy_from, 2)}→{_num(d.accuracy_to, 2)}",
        f"{_num(d.loss_from, 2)}→{_num(d.loss_to, 2)}",
        _signed(d.delta_loss),
        "100%" if d.delta_loss else "–",
        style="bold",
    )
    return _titled(t)


def _diff_headline(d: ConfusionDiff) -> Text:
    text = Text()
    text.append("mean loss ", style="bold")
    text.append(f"{d.loss_from:.4f} → {d.loss_to:.4f} ({_signed(d.delta_loss)} nats)")
    text.append("   accuracy ", style="bold")
    text.append(f"{d.accuracy_from:.4f} → {d.accuracy_to:.4f} ({_signed(d.delta_accuracy)})")
    return text


def _split_parts(
    report: ConfusionReport, s: SplitConfusion, csv_paths: MatrixCsv | None
) -> list[RenderableType]:
    parts: list[RenderableType] = [Text(_title(report, s), style="bold underline")]
    if s.diff is not None:
        parts.append(_diff_headline(s.diff))
        parts.append(Text(""))
        if _show_matrix(s):
            parts.append(diff_matrix_table(s))
        else:
            parts.append(Text(_matrix_note(s, csv_paths), style="dim"))
        parts += [Text(""), changes_table(s.diff), Text(""), loss_change_table(s)]
        return parts
    parts.append(_headline(s))
    parts.append(Text(""))
    if _show_matrix(s):
        parts.append(matrix_table(s))
    else:
        parts.append(Text(_matrix_note(s, csv_paths), style="dim"))
    parts += [Text(""), per_class_table(s), Text(""), summary_table(s), Text(""), pairs_table(s)]
    return parts


def confusion_table(report: ConfusionReport, *, csv_paths: MatrixCsv | None = None) -> Group:
    """Every split in turn: headline, matrix, per-class table, averages, top confusions.

    With a diff: the matrix difference, the confusions that grew and shrank most
    and the change in mean loss by true class.
    """
    parts: list[RenderableType] = []
    for s in report.splits.values():
        if parts:
            parts.append(Text(""))
        parts.extend(_split_parts(report, s, csv_paths))
    return Group(*parts)


# -- CSV -----------------------------------------------------------------------------------


def _fmt_value(x: float, integral: bool) -> str:
    return str(int(x)) if integral else repr(float(x))


def matrix_csv(s: SplitConfusion, *, diff: bool | None = None) -> str:
    """The matrix of one split as CSV: a header of predicted labels, one row per true label.

    Counts with ``normalize="none"``, fractions otherwise; with a diff (unless
    ``diff=False``) the change from the diff's first epoch to its second.
    """
    e = s.epoch
    use_diff = s.diff is not None if diff is None else diff and s.diff is not None
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
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["true\\pred", *(str(x) for x in e.labels)])
    for lab, row in zip(e.labels, values, strict=True):
        w.writerow([str(lab), *(_fmt_value(v, integral) for v in row)])
    return buf.getvalue()


def confusion_csv(report: ConfusionReport, *, csv_paths: MatrixCsv | None = None) -> str:
    """The matrix of the report's one split as CSV (several splits: ``ValueError``)."""
    del csv_paths
    if len(report.splits) != 1:
        raise ValueError("CSV holds the matrix of one split: choose one")
    (s,) = report.splits.values()
    return matrix_csv(s)


# -- Markdown ------------------------------------------------------------------------------


def _md(x: object) -> str:
    return str(x).replace("|", "\\|")


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]], right: int = 1) -> list[str]:
    align = ["---"] * min(right, len(header)) + ["---:"] * max(len(header) - right, 0)
    out = ["| " + " | ".join(_md(h) for h in header) + " |", "| " + " | ".join(align) + " |"]
    out += ["| " + " | ".join(_md(c) for c in r) + " |" for r in rows]
    return out + [""]


def _md_split(report: ConfusionReport, s: SplitConfusion, csv_at: MatrixCsv | None) -> list[str]:
    e: EpochConfusion = s.epoch
    out = [f"## `{report.run}` · split `{s.name}` · " + _title(report, s).rsplit(" · ", 1)[1], ""]
    names = [str(x) for x in e.labels]
    if s.diff is not None:
        d = s.diff
        out += [
            f"Mean loss {d.loss_from:.4f} → {d.loss_to:.4f} ({_signed(d.delta_loss)} nats); "
            f"accuracy {d.accuracy_from:.4f} → {d.accuracy_to:.4f} "
            f"({_signed(d.delta_accuracy)}).",
            "",
        ]
        if _show_matrix(s):
            out += ["### Change in the confusion matrix (rows = true, columns = predicted)", ""]
            rows = []
            for k, lab in enumerate(names):
                cells = [_signed_int(int(x)) for x in d.matrix[k]]
                cells[k] = f"**{cells[k]}**"
                rows.append([lab, *cells])
            out += _md_table(["true \\ pred", *names], rows)
        else:
            out += [_matrix_note(s, csv_at), ""]
        out += ["### Confusions that grew and shrank most", ""]
        rows = [
            [str(p.true), str(p.pred), str(p.count_from), str(p.count_to), _signed_int(p.change)]
            for p in (*d.grew, *d.shrank)
        ]
        if rows:
            out += _md_table(
                ["true", "predicted", f"epoch {d.from_epoch}", f"epoch {d.to_epoch}", "change"],
                rows,
                right=2,
            )
        else:
            out += [_no_changes(d), ""]
        out += ["### Change in mean loss by true class (nats)", ""]
        rows = [
            [
                str(c.label),
                str(c.support_to),
                f"{_num(c.recall_from)} → {_num(c.recall_to)}",
                f"{_num(c.mean_loss_from)} → {_num(c.mean_loss_to)}",
                _signed(c.delta_contribution, 6),
                _share(c.delta_contribution, d.delta_loss),
            ]
            for c in _class_changes(s)
        ]
        rows.append(
            ["**all**", str(e.n_samples), f"{_num(d.accuracy_from)} → {_num(d.accuracy_to)}",
             f"{_num(d.loss_from)} → {_num(d.loss_to)}", _signed(d.delta_loss, 6), "100%"]
        )  # fmt: skip
        out += _md_table(
            ["class", "support", "recall", "mean loss", "contribution", "share of ΔL"], rows
        )
        return out
    ignored = f"; {s.n_ignored} samples ignored (label -100)" if s.n_ignored else ""
    out += [
        f"Accuracy {e.accuracy:.4f} ({int(e.matrix.trace())} of {e.n_samples}); "
        f"mean loss {e.loss:.4f} nats{ignored}.",
        "",
    ]
    if _show_matrix(s):
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
        out += [_matrix_note(s, csv_at), ""]
    by_f1 = not _show_matrix(s)
    out += ["### Per class" + (" (sorted by F1, worst first)" if by_f1 else ""), ""]
    rows = [
        [str(r.label), str(r.support), _num(r.precision), _num(r.recall), _num(r.f1),
         _num(r.mean_loss), _num(r.contribution, 4)]
        for r in _class_order(e.per_class, by_f1)
    ]  # fmt: skip
    rows.append(["**all**", str(e.n_samples), "", "", "", _num(e.loss), _num(e.loss, 4)])
    rows.append(["macro avg", "", _num(e.macro.precision), _num(e.macro.recall),
                 _num(e.macro.f1), "", ""])  # fmt: skip
    rows.append(["weighted avg", "", _num(e.weighted.precision), _num(e.weighted.recall),
                 _num(e.weighted.f1), "", ""])  # fmt: skip
    out += _md_table(
        ["class", "support", "precision", "recall", "F1", "mean loss", "contribution"], rows
    )
    out += ["### Top confusions", ""]
    if e.top_confusions:
        rows = [
            [str(p.true), str(p.pred), str(p.count), pct(p.share_of_true), _num(p.mean_loss)]
            for p in e.top_confusions
        ]
        out += _md_table(["true", "predicted", "count", "% of true", "mean loss"], rows, right=2)
    else:
        out += [_no_pairs(s), ""]
    return out


def confusion_markdown(report: ConfusionReport, *, csv_paths: MatrixCsv | None = None) -> str:
    """Every split in turn, as Markdown sections."""
    out = [f"# predaudit confusion `{report.run}`", ""]
    for s in report.splits.values():
        out += _md_split(report, s, csv_paths)
    return "\n".join(out).rstrip("\n") + "\n"


def confusion_json(report: ConfusionReport, *, csv_paths: MatrixCsv | None = None) -> str:
    """``report.to_dict()`` as JSON (schema ``predaudit.confusion/1``)."""
    del csv_paths
    return to_json(report)


Renderer = Callable[..., RenderableType]

RENDERERS: dict[OutputFormat, Renderer] = {
    OutputFormat.TABLE: confusion_table,
    OutputFormat.JSON: confusion_json,
    OutputFormat.MARKDOWN: confusion_markdown,
    OutputFormat.CSV: confusion_csv,
}

__all__ = ["RENDERERS", "matrix_csv", "shorten", "pct"]


def bundle_files(split: SplitConfusion) -> list[tuple[str, str, str]]:
    """The data files ``--out`` writes for one split: ``(role, file name, text)``.

    ``matrix`` is the matrix at the epoch; with a diff also ``matrix_diff``.
    """
    files = [("matrix", "confusion_matrix.csv", matrix_csv(split, diff=False))]
    if split.diff is not None:
        files.append(("matrix_diff", "confusion_matrix_diff.csv", matrix_csv(split, diff=True)))
    return files
