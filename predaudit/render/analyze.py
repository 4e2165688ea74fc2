"""Renderers of :class:`predaudit.report.AnalyzeReport`: Rich table, Markdown, CSV."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from predaudit.render import OutputFormat, markdown, to_json
from predaudit.render.analyze_csv import analyze_csv, per_sample_csv
from predaudit.render.headline import header_line
from predaudit.render.html_lazy import render_html
from predaudit.render.losses import loss_note
from predaudit.render.numbers import (
    DASH,
    count,
    fixed_finite,
    pct_fixed,
    temperatures,
    undo_phrase,
)
from predaudit.render.top import TOP_HEADER, top_id_header, top_rows, top_title
from predaudit.render.wrong_to_wrong import PointedLine, analyze_line
from predaudit.report.analyze import AnalyzeReport, Comparison, SplitAnalysis
from predaudit.report.vocab import CELL_LABELS, CELLS

VERDICT_STYLE = {
    "supported": "bold red",
    "inconclusive": "bold yellow",
    "rejected": "bold green",
    "not_applicable": "bold",
}
VERDICT_TITLE = {
    "supported": "Verdict: SUPPORTED",
    "inconclusive": "Verdict: INCONCLUSIVE",
    "rejected": "Verdict: REJECTED",
    "not_applicable": "Verdict: NOT APPLICABLE",
}
MAX_ROWS = 12


def shown_epochs(split: SplitAnalysis, all_epochs: bool = False) -> list[int]:
    """The epochs of the per-epoch table: all, or first, best, compared, last and evenly spaced."""
    epochs = split.epochs
    if all_epochs or len(epochs) <= MAX_ROWS:
        return list(epochs)
    keep = {epochs[0], epochs[-1], _best(split)}
    if split.comparison is not None:
        keep |= {split.comparison.from_epoch, split.comparison.to_epoch}
    for i in np.linspace(0, len(epochs) - 1, MAX_ROWS - len(keep) + 2).round().astype(int):
        if len(keep) >= MAX_ROWS:
            break
        keep.add(epochs[i])
    return [e for e in epochs if e in keep]


def _best(split: SplitAnalysis) -> int:
    return min(split.per_epoch, key=lambda r: r.loss).epoch


def _marks(split: SplitAnalysis, epoch: int) -> str:
    marks = []
    if split.comparison is not None:
        if epoch == split.comparison.from_epoch:
            marks.append("from")
        if epoch == split.comparison.to_epoch:
            marks.append("to")
    if epoch == _best(split):
        marks.append("best")
    return ", ".join(marks)


def epoch_table(split: SplitAnalysis, all_epochs: bool = False) -> Table:
    """Mean loss of all, correct and wrong samples per shown epoch (see :func:`shown_epochs`)."""
    shown = shown_epochs(split, all_epochs)
    caption = None
    if len(shown) < len(split.epochs):
        caption = f"{len(shown)} of {len(split.epochs)} epochs shown; --all-epochs for every row"
    t = Table(
        title=f"Per {split.epoch_unit}: mean loss (nats) of all, correct and wrong "
        f"{split.sample_unit}s",
        title_justify="left",
        caption=caption,
        caption_justify="left",
    )
    t.add_column(split.epoch_unit, justify="right")
    t.add_column("loss", justify="right")
    t.add_column("accuracy", justify="right")
    t.add_column("correct", justify="right")
    t.add_column("wrong", justify="right")
    t.add_column("wrong part", justify="right")
    t.add_column("", no_wrap=True)
    for e in shown:
        r = split.row(e)
        marks = _marks(split, e)
        t.add_row(
            str(e),
            fixed_finite(r.loss),
            pct_fixed(r.accuracy),
            fixed_finite(r.loss_correct),
            fixed_finite(r.loss_wrong),
            fixed_finite(r.contribution_wrong),
            marks,
            style="bold" if "from" in marks or "to" in marks else None,
        )
    return t


def transition_table(split: SplitAnalysis) -> Table | Text:
    """The four transition cells and their parts of ΔL, or why they are not available."""
    c = split.comparison
    assert c is not None
    if c.transitions is None:
        return Text(f"Transitions: not available: {c.transitions_reason}.", style="yellow")
    n_total = sum(cell.n for cell in c.transitions.values())
    t = Table(
        title=f"Where the change in loss comes from, epoch {c.from_epoch} → {c.to_epoch}",
        title_justify="left",
    )
    t.add_column("samples were", no_wrap=True)
    t.add_column("n", justify="right")
    t.add_column("% of n", justify="right")
    t.add_column("adds to ΔL", justify="right")
    t.add_column("% of ΔL", justify="right")
    t.add_column("mean Δloss", justify="right")
    for name in CELLS:
        cell = c.transitions[name]
        share = cell.contribution / c.delta_loss if c.delta_loss != 0 else None
        t.add_row(
            CELL_LABELS[name],
            count(cell.n),
            pct_fixed(cell.n / n_total if n_total else None),
            fixed_finite(cell.contribution, signed=True),
            pct_fixed(share, 0),
            fixed_finite(cell.mean_delta, 2, signed=True),
            style="bold" if split.hypothesis and split.hypothesis.driver == name else None,
        )
    t.add_section()
    t.add_row(
        "all (ΔL)",
        count(n_total),
        "100.0%",
        fixed_finite(c.delta_loss, signed=True),
        "100%" if c.delta_loss != 0 else DASH,
        fixed_finite(c.delta_loss, 2, signed=True),
    )
    return t


def shift_share_line(split: SplitAnalysis) -> Text:
    """ΔL as composition plus the severity of correct and of wrong samples."""
    c = split.comparison
    assert c is not None
    s = c.shift_share

    def worded(x: float, worse: str, better: str, same: str) -> str:
        word = worse if x > 0 else better if x < 0 else same
        return f"{word} {fixed_finite(x, signed=True)}"

    d_acc = c.delta_accuracy
    composition = "more wrong samples" if d_acc < 0 else "fewer wrong samples"
    if d_acc == 0:
        composition = "as many wrong samples"
    return Text(
        f"Shift-share: {composition} {fixed_finite(s.composition, signed=True)}, "
        + worded(s.correct_severity, "correct samples got worse", "correct samples got better",
                 "correct samples unchanged")
        + ", "
        + worded(s.wrong_severity, "wrong samples got worse", "wrong samples got better",
                 "wrong samples unchanged")
        + f" (sum {fixed_finite(c.delta_loss, signed=True)} = ΔL)"
    )  # fmt: skip


def temperature_line(c: Comparison) -> str | None:
    """How much of the rise one temperature (fitted at each compared epoch) would undo."""
    t = c.temperature
    if t is None:
        return None
    fits = (t.temperature_from, t.status_from), (t.temperature_to, t.status_to)
    if t.temperature_share is None:
        return f"No rise for a single temperature to undo ({temperatures(fits)})."
    return (
        f"A single temperature would undo {undo_phrase(t.temperature_share, temperatures(fits))}."
    )


def verdict_panel(split: SplitAnalysis) -> Panel:
    """The verdict, its statement, bootstrap interval and temperature share, in a coloured box."""
    h = split.hypothesis
    assert h is not None
    body = h.statement
    if h.ci95 is not None:
        body += (
            f"\n95% bootstrap interval of the wrong → wrong part of ΔL: "
            f"[{fixed_finite(h.ci95[0], signed=True)}, "
            f"{fixed_finite(h.ci95[1], signed=True)}] nats."
        )
    if split.comparison is not None and (line := temperature_line(split.comparison)):
        body += "\n" + line
    return Panel(
        Text(body),
        title=Text(VERDICT_TITLE[h.verdict], style=VERDICT_STYLE[h.verdict]),
        title_align="left",
        border_style=VERDICT_STYLE[h.verdict].replace("bold ", "") or "white",
    )


def top_table(split: SplitAnalysis) -> Table | Text:
    """The samples whose loss rose most (``--top``), or the line saying none did."""
    if not split.top:
        return Text(top_title(split))
    t = Table(title=top_title(split), title_justify="left")
    for name in (top_id_header(split), *TOP_HEADER):
        t.add_column(name, justify="right")
    for cells in top_rows(split):
        t.add_row(*cells)
    return t


def analyze_table(report: AnalyzeReport, *, all_epochs: bool = False) -> Group:
    """Every split in turn: header, per-epoch table, transitions, shift-share, top, verdict."""
    parts: list[RenderableType] = []
    for split in report.splits.values():
        if parts:
            parts.append(Text(""))
        parts.append(Text(header_line(report.run, split), style="bold"))
        if note := loss_note(split.n_clipped, split.n_floored, split.clip):
            parts.append(Text(note, style="yellow"))
        parts.append(epoch_table(split, all_epochs))
        if split.comparison is None:
            parts.append(Text(split.note or "No comparison.", style="yellow"))
            continue
        parts.append(transition_table(split))
        parts.append(shift_share_line(split))
        if line := analyze_line(split.comparison, split.sample_unit):
            parts.append(PointedLine(line))
        if split.top is not None:
            parts.append(top_table(split))
        parts.append(verdict_panel(split))
    return Group(*parts)


def _md_transitions(c: Comparison) -> list[str]:
    """The transition table of a comparison, or why there is none."""
    if c.transitions is None:
        return [f"Transitions: not available: {c.transitions_reason}.", ""]
    n_total = sum(x.n for x in c.transitions.values())
    rows = []
    for name in CELLS:
        cell = c.transitions[name]
        share = cell.contribution / c.delta_loss if c.delta_loss else None
        rows.append(
            [
                CELL_LABELS[name],
                count(cell.n),
                pct_fixed(cell.n / n_total),
                fixed_finite(cell.contribution, signed=True),
                pct_fixed(share, 0),
                fixed_finite(cell.mean_delta, 2, signed=True),
            ]
        )
    total = fixed_finite(c.delta_loss, signed=True)
    rows.append(["**all (ΔL)**", count(n_total), "100.0%", total, "100%", ""])
    header = ["samples were", "n", "% of n", "adds to ΔL", "% of ΔL", "mean Δloss"]
    return [
        f"Transitions, epoch {c.from_epoch} → {c.to_epoch}:",
        "",
        *markdown.table(header, rows, "lrrrrr"),
        "",
    ]


def analyze_markdown(report: AnalyzeReport, *, all_epochs: bool = False) -> str:
    """Every split in turn: header, verdict, per-epoch table, transitions, shift-share,
    the wrong → wrong line and the ``--top`` list."""
    out: list[str] = [f"## predaudit analyze {markdown.code(report.run)}", ""]
    for split in report.splits.values():
        head = markdown.text(header_line(report.run, split))
        out += [f"### split {markdown.code(split.name)}", "", head, ""]
        if note := loss_note(split.n_clipped, split.n_floored, split.clip):
            out += [note, ""]
        h = split.hypothesis
        if h is not None:
            out += [f"**{VERDICT_TITLE[h.verdict]}.** {h.statement}", ""]
        if split.comparison is not None and (line := temperature_line(split.comparison)):
            out += [line, ""]
        rows = []
        for e in shown_epochs(split, all_epochs):
            r = split.row(e)
            rows.append(
                [
                    str(e),
                    fixed_finite(r.loss),
                    pct_fixed(r.accuracy),
                    fixed_finite(r.loss_correct),
                    fixed_finite(r.loss_wrong),
                    fixed_finite(r.contribution_wrong),
                    _marks(split, e),
                ]
            )
        header = [split.epoch_unit, "loss", "accuracy", "loss correct", "loss wrong", "wrong part"]
        header.append("")
        out += [*markdown.table(header, rows), ""]
        c = split.comparison
        if c is None:
            out += [split.note or "No comparison.", ""]
            continue
        out += _md_transitions(c)
        out += [shift_share_line(split).plain, ""]
        if line := analyze_line(c, split.sample_unit):
            out += [line, ""]
        if split.top is not None:
            out += [markdown.text(top_title(split)), ""]
            if split.top:
                header = [top_id_header(split), *TOP_HEADER]
                out += [*markdown.table(header, top_rows(split), escape=True), ""]
    return "\n".join(out)


Renderer = Callable[..., RenderableType]
"""``render(report, *, all_epochs=False)``: a Rich renderable or a string."""


def analyze_json(report: AnalyzeReport, **_: object) -> str:
    """``report.to_dict()`` as JSON (schema ``predaudit.analyze/1``)."""
    return to_json(report)


RENDERERS: dict[OutputFormat, Renderer] = {
    OutputFormat.TABLE: analyze_table,
    OutputFormat.JSON: analyze_json,
    OutputFormat.MARKDOWN: analyze_markdown,
    OutputFormat.CSV: lambda r, **_: analyze_csv(r),
    OutputFormat.HTML: render_html,
}


def bundle_files(split: SplitAnalysis) -> list[tuple[str, str, str]]:
    """The data files ``--out`` writes for one split: ``(role, file name, text)``."""
    if split.samples is None:
        return []
    return [("per_sample", "per_sample.csv", per_sample_csv(split))]
