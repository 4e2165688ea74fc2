"""The terminal (Rich) renderer of :class:`predaudit.report.confusion.ConfusionReport`.

The table fits 80 columns for 10 classes; over ``MATRIX_MAX_CLASSES`` classes the
matrix is left out (it goes to CSV) and the per-class table is sorted by F1, worst first.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextvars import ContextVar

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType
from rich.table import Table
from rich.text import Text

from predaudit.render.confusion_common import (
    CELL_WIDTH,
    NORMALIZE_TEXT,
    ROW_LABEL_WIDTH,
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
from predaudit.render.numbers import DASH, count, fixed, pct, share, signed, signed_int
from predaudit.report.confusion import ConfusionDiff, ConfusionReport, Label, SplitConfusion

DIAGONAL = "bold green"


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


_WIDTHS: ContextVar[tuple[int, int]] = ContextVar("widths", default=(ROW_LABEL_WIDTH, CELL_WIDTH))
"""(row label width, matrix column width) of the tables being laid out."""


def label_widths(report: ConfusionReport, width: int) -> tuple[int, int]:
    """How wide class names may be at a console ``width``: whole when they fit.

    Row labels (first columns, and both names of a pair) get at least
    ``ROW_LABEL_WIDTH`` characters, more when the per-class and pair tables still
    fit; matrix columns get at least ``CELL_WIDTH``, more when the matrix fits.

    >>> import numpy as np
    >>> from types import SimpleNamespace as NS
    >>> def run(names):
    ...     return NS(splits={"t": NS(epoch=NS(labels=names, matrix=np.eye(len(names))))})
    >>> label_widths(run(["airplane_long_name", "automobile"]), 80)
    (18, 18)
    >>> label_widths(run(["airplane_long_name", "automobile", "bird"]), 80)
    (18, 14)
    >>> label_widths(run(["n01440764_tench_and_more"] * 16), 80), label_widths(run(["cat"]), 80)
    ((18, 5), (3, 5))
    """
    longest = max((len(str(x)) for s in report.splits.values() for x in s.epoch.labels), default=1)
    row = min(longest, max(ROW_LABEL_WIDTH, min(width - 62, (width - 34) // 2)))
    col = CELL_WIDTH
    for s in report.splits.values():
        c = max(1, len(s.epoch.labels))  # c class columns and a total column as wide, 1 apart
        avail = (width - max(row, 4) - 1) // (c + 1) - 1
        col = max(col, min(longest, avail))
    return row, max(CELL_WIDTH, col)


def _label(x: Label, width: int | None = None) -> str:
    return shorten(str(x), _WIDTHS.get()[0] if width is None else width)


def _table(heading: str | None = None, *, gap: int = 2) -> Table:
    """A borderless table whose columns are ``gap`` spaces apart."""
    return Table(
        title=heading,
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, gap - 1, 0, 0),
        pad_edge=False,
    )


def _titled(t: Table) -> Group | Table:
    """The table under its title on a line of its own (a Rich title wraps at the table's width)."""
    if not t.title:
        return t
    heading, t.title = str(t.title), None
    return Group(Text(heading, style="bold"), t)


def matrix_table(s: SplitConfusion) -> Group | Table:
    """Counts with a percentage under each (per ``--normalize``; row % by default)."""
    e = s.epoch
    labels = e.labels
    frac = e.normalized("true" if s.normalize == "none" else s.normalize)
    width = max(CELL_WIDTH, len(str(int(e.matrix.max(initial=0)))))
    widest = _WIDTHS.get()[1]  # each column as wide as its name, up to this
    t = _table(
        f"Confusion matrix (rows true, columns predicted): count, {NORMALIZE_TEXT[s.normalize]}",
        gap=1,
    )
    t.add_column("true", no_wrap=True)
    for lab in labels:
        w = max(width, min(len(str(lab)), widest))
        t.add_column(_label(lab, w), justify="right", no_wrap=True, min_width=w)
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


def per_class_table(s: SplitConfusion) -> Group | Table:
    """Support, precision, recall, F1, mean loss and contribution to the mean loss."""
    e = s.epoch
    by_f1 = not show_matrix(s)
    t = _table("Per class" + (" (sorted by F1, worst first)" if by_f1 else ""))
    t.add_column("class", no_wrap=True)
    for name in ("support", "precision", "recall", "F1", "mean loss", "contribution"):
        t.add_column(name, justify="right", no_wrap=True)
    for r in class_order(e.per_class, by_f1):
        t.add_row(
            _label(r.label),
            count(r.support),
            fixed(r.precision),
            fixed(r.recall),
            fixed(r.f1),
            fixed(r.mean_loss),
            fixed(r.contribution, 4),
        )
    t.add_section()
    t.add_row("all", count(e.n_samples), "", "", "", fixed(e.loss), fixed(e.loss, 4), style="bold")
    return _titled(t)


def summary_table(s: SplitConfusion) -> Group | Table:
    """Accuracy and the macro and weighted averages."""
    e = s.epoch
    t = _table()
    t.add_column("", no_wrap=True)
    for name in ("precision", "recall", "F1"):
        t.add_column(name, justify="right", no_wrap=True)
    t.add_row("macro avg", fixed(e.macro.precision), fixed(e.macro.recall), fixed(e.macro.f1))
    t.add_row(
        "weighted avg", fixed(e.weighted.precision), fixed(e.weighted.recall), fixed(e.weighted.f1)
    )
    return _titled(t)


def _headline(s: SplitConfusion) -> Text:
    e = s.epoch
    text = Text()
    text.append("accuracy ", style="bold")
    text.append(fixed(e.accuracy, 4))
    text.append(f" ({count(e.n_correct)} of {count(e.n_samples)})")
    text.append("   mean loss ", style="bold")
    text.append(f"{fixed(e.loss, 4)} nats")
    if s.n_ignored:
        text.append(f"   ignored (-100) {count(s.n_ignored)}", style="dim")
    return text


def pairs_table(s: SplitConfusion) -> Group | Table | Text:
    """The most frequent confusions: true → predicted, count, % of the true class, mean loss."""
    pairs = s.epoch.top_confusions
    if not pairs:
        return Text(no_pairs(s))
    t = _table("Top confusions")
    t.add_column("true", no_wrap=True)
    t.add_column("", no_wrap=True)
    t.add_column("predicted", no_wrap=True)
    t.add_column("count", justify="right", no_wrap=True)
    t.add_column("% of true", justify="right", no_wrap=True)
    t.add_column("mean loss", justify="right", no_wrap=True)
    for p in pairs:
        t.add_row(
            _label(p.true), "→", _label(p.pred), count(p.count), pct(p.share_of_true),
            fixed(p.mean_loss),
        )  # fmt: skip
    return _titled(t)


def diff_matrix_table(s: SplitConfusion) -> Group | Table:
    """The count difference (to − from), diagonal highlighted."""
    d = s.diff
    assert d is not None
    labels = s.epoch.labels
    width = max(CELL_WIDTH, *(len(signed_int(int(x))) for x in d.matrix.ravel()))
    widest = _WIDTHS.get()[1]
    t = _table(
        f"Change in the confusion matrix, epoch {d.from_epoch} → {d.to_epoch} "
        "(rows true, columns predicted)",
        gap=1,
    )
    t.add_column("true", no_wrap=True)
    for lab in labels:
        w = max(width, min(len(str(lab)), widest))
        t.add_column(_label(lab, w), justify="right", no_wrap=True, min_width=w)
    for k, lab in enumerate(labels):
        cells: list[RenderableType] = [_label(lab)]
        for j in range(len(labels)):
            cell = Text(signed_int(int(d.matrix[k, j])))
            if k == j:
                cell.stylize(DIAGONAL)
            elif d.matrix[k, j] == 0:
                cell.stylize("dim")
            cells.append(cell)
        t.add_row(*cells)
    return _titled(t)


def changes_table(d: ConfusionDiff) -> Group | Table | Text:
    """The confusions that grew and shrank most."""
    if not d.grew and not d.shrank:
        return Text(no_changes(d))
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
                _label(p.true), "→", _label(p.pred), count(p.count_from), count(p.count_to),
                signed_int(p.change),
            )  # fmt: skip
        if group and group is d.grew:
            t.add_section()
    return _titled(t)


def loss_change_table(s: SplitConfusion) -> Group | Table:
    """ΔL split by true class: the contributions sum to ΔL."""
    d = s.diff
    assert d is not None
    order = "" if show_matrix(s) else ", largest first"
    t = _table(
        f"Change in mean loss by true class, epoch {d.from_epoch} → {d.to_epoch} (nats{order})"
    )
    t.add_column("class", no_wrap=True)
    t.add_column("support", justify="right", no_wrap=True)
    t.add_column("recall", justify="right", no_wrap=True)
    t.add_column("mean loss", justify="right", no_wrap=True)
    t.add_column("contribution", justify="right", no_wrap=True)
    t.add_column("share", justify="right", no_wrap=True)
    for c in class_changes(s):
        t.add_row(
            _label(c.label),
            count(c.support_to),
            f"{fixed(c.recall_from, 2)}→{fixed(c.recall_to, 2)}",
            f"{fixed(c.mean_loss_from, 2)}→{fixed(c.mean_loss_to, 2)}",
            signed(c.delta_contribution),
            share(c.delta_contribution, d.delta_loss),
        )
    t.add_section()
    t.add_row(
        "all",
        count(s.epoch.n_samples),
        f"{fixed(d.accuracy_from, 2)}→{fixed(d.accuracy_to, 2)}",
        f"{fixed(d.loss_from, 2)}→{fixed(d.loss_to, 2)}",
        signed(d.delta_loss),
        "100%" if d.delta_loss else DASH,
        style="bold",
    )
    return _titled(t)


def _diff_headline(d: ConfusionDiff) -> Text:
    text = Text()
    text.append("mean loss ", style="bold")
    text.append(f"{fixed(d.loss_from, 4)} → {fixed(d.loss_to, 4)} ({signed(d.delta_loss)} nats)")
    text.append("   accuracy ", style="bold")
    text.append(
        f"{fixed(d.accuracy_from, 4)} → {fixed(d.accuracy_to, 4)} ({signed(d.delta_accuracy)})"
    )
    return text


def _split_parts(
    report: ConfusionReport, s: SplitConfusion, csv_paths: MatrixCsv | None
) -> list[RenderableType]:
    parts: list[RenderableType] = [Text(title(report, s), style="bold underline")]
    if note := loss_note(s.n_clipped, s.n_floored, s.clip):
        parts.append(Text(note, style="yellow"))
    if s.diff is not None:
        parts.append(_diff_headline(s.diff))
        parts.append(Text(""))
        if show_matrix(s):
            parts.append(diff_matrix_table(s))
        else:
            parts.append(Text(matrix_note(s, csv_paths), style="dim"))
        parts += [Text(""), changes_table(s.diff), Text(""), loss_change_table(s)]
        if note := rows_note(s):
            parts.append(Text(note, style="dim"))
        return parts
    parts.append(_headline(s))
    parts.append(Text(""))
    if show_matrix(s):
        parts.append(matrix_table(s))
    else:
        parts.append(Text(matrix_note(s, csv_paths), style="dim"))
    parts += [Text(""), per_class_table(s)]
    if note := rows_note(s):
        parts.append(Text(note, style="dim"))
    parts += [Text(""), summary_table(s), Text(""), pairs_table(s)]
    return parts


class _FitToConsole:
    """The tables, laid out when printed, for the console's width (class names whole when
    they fit, cut with an ellipsis when they do not)."""

    def __init__(self, report: ConfusionReport, csv_paths: MatrixCsv | None) -> None:
        self.report, self.csv_paths = report, csv_paths

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Group]:
        token = _WIDTHS.set(label_widths(self.report, options.max_width))
        try:
            parts: list[RenderableType] = []
            for s in self.report.splits.values():
                if parts:
                    parts.append(Text(""))
                parts.extend(_split_parts(self.report, s, self.csv_paths))
        finally:
            _WIDTHS.reset(token)
        yield Group(*parts)


def confusion_table(report: ConfusionReport, *, csv_paths: MatrixCsv | None = None) -> Group:
    """Every split in turn: headline, matrix, per-class table, averages, top confusions.

    With a diff: the matrix difference, the confusions that grew and shrank most
    and the change in mean loss by true class.
    """
    return Group(_FitToConsole(report, csv_paths))
