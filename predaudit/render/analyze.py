"""Renderers of :class:`predaudit.report.AnalyzeReport`: Rich table, Markdown, CSV."""

from __future__ import annotations

import csv
import io

import numpy as np
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from predaudit.render import OutputFormat, to_json
from predaudit.report.analyze import AnalyzeReport, SplitAnalysis
from predaudit.report.vocab import CELL_LABELS, CELLS

VERDICT_STYLE = {"supported": "bold red", "rejected": "bold green", "not_applicable": "bold"}
VERDICT_TITLE = {
    "supported": "Verdict: SUPPORTED",
    "rejected": "Verdict: REJECTED",
    "not_applicable": "Verdict: NOT APPLICABLE",
}
MAX_ROWS = 12


def _f(x: float | None, digits: int = 3, signed: bool = False) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "–"
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def _prob(p: float) -> str:
    """A probability in 5 characters: 0.281, or 3e-05 when tiny."""
    return f"{p:.3f}" if p >= 1e-3 or p == 0 else f"{p:.0e}"


def _pct(x: float | None, digits: int = 1, signed: bool = False) -> str:
    if x is None:
        return "–"
    if round(100 * x, digits) == 0:
        x = 0.0  # no "-0%"
    return f"{100 * x:+.{digits}f}%" if signed else f"{100 * x:.{digits}f}%"


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


def header_line(run: str, split: SplitAnalysis) -> str:
    kind = split.input_kind + ("" if split.kind_detected else " (given)")
    e = split.epochs
    span = f"epochs {e[0]}–{e[-1]}" if len(e) > 1 else f"1 epoch ({e[0]})"
    extra = f" · {split.n_ignored:,} ignored" if split.n_ignored else ""
    return (
        f"{run} · {split.name} · {split.n_samples:,} samples · {split.n_classes} classes"
        f" · {span} · {kind}{extra}"
    )


def epoch_table(split: SplitAnalysis, all_epochs: bool = False) -> Table:
    shown = shown_epochs(split, all_epochs)
    caption = None
    if len(shown) < len(split.epochs):
        caption = f"{len(shown)} of {len(split.epochs)} epochs shown; --all-epochs for every row"
    t = Table(
        title="Per epoch: mean loss (nats) of all, correct and wrong samples",
        title_justify="left",
        caption=caption,
        caption_justify="left",
    )
    t.add_column("epoch", justify="right")
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
            _f(r.loss),
            _pct(r.accuracy),
            _f(r.loss_correct),
            _f(r.loss_wrong),
            _f(r.contribution_wrong),
            marks,
            style="bold" if "from" in marks or "to" in marks else None,
        )
    return t


def transition_table(split: SplitAnalysis) -> Table | Text:
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
            f"{cell.n:,}",
            _pct(cell.n / n_total if n_total else None),
            _f(cell.contribution, signed=True),
            _pct(share, 0) if share is not None else "–",
            _f(cell.mean_delta, 2, signed=True),
            style="bold" if split.hypothesis and split.hypothesis.driver == name else None,
        )
    t.add_section()
    t.add_row(
        "all (ΔL)",
        f"{n_total:,}",
        "100.0%",
        _f(c.delta_loss, signed=True),
        "100%" if c.delta_loss != 0 else "–",
        _f(c.delta_loss, 2, signed=True),
    )
    return t


def shift_share_line(split: SplitAnalysis) -> Text:
    c = split.comparison
    assert c is not None
    s = c.shift_share
    return Text(
        f"Shift-share: fewer/more wrong samples {_f(s.composition, signed=True)}, "
        f"correct got worse {_f(s.correct_severity, signed=True)}, "
        f"wrong got worse {_f(s.wrong_severity, signed=True)} "
        f"(sum {_f(c.delta_loss, signed=True)} = ΔL)"
    )


def verdict_panel(split: SplitAnalysis) -> Panel:
    h = split.hypothesis
    assert h is not None
    body = h.statement
    if h.ci95 is not None:
        body += (
            f"\n95% bootstrap interval of the wrong → wrong part of ΔL: "
            f"[{_f(h.ci95[0], signed=True)}, {_f(h.ci95[1], signed=True)}] nats."
        )
    return Panel(
        Text(body),
        title=Text(VERDICT_TITLE[h.verdict], style=VERDICT_STYLE[h.verdict]),
        title_align="left",
        border_style=VERDICT_STYLE[h.verdict].replace("bold ", "") or "white",
    )


def top_table(split: SplitAnalysis) -> Table:
    c = split.comparison
    assert c is not None
    t = Table(
        title=f"Samples whose loss rose most, epoch {c.from_epoch} → {c.to_epoch}",
        title_justify="left",
    )
    t.add_column("id", justify="right")
    t.add_column("label", justify="right")
    t.add_column("pred", justify="right")
    t.add_column("loss", justify="right")
    t.add_column("p(true)", justify="right")
    for s in split.top:
        t.add_row(
            str(s.id),
            str(s.label),
            f"{s.pred_from} → {s.pred_to}",
            f"{s.loss_from:.2f} → {s.loss_to:.2f}",
            f"{_prob(s.p_true_from)} → {_prob(s.p_true_to)}",
        )
    return t


def analyze_table(report: AnalyzeReport, *, all_epochs: bool = False) -> Group:
    parts: list = []
    for split in report.splits.values():
        if parts:
            parts.append(Text(""))
        parts.append(Text(header_line(report.run, split), style="bold"))
        parts.append(epoch_table(split, all_epochs))
        if split.comparison is None:
            parts.append(Text(split.note or "No comparison.", style="yellow"))
            continue
        parts.append(transition_table(split))
        parts.append(shift_share_line(split))
        if split.top:
            parts.append(top_table(split))
        parts.append(verdict_panel(split))
    return Group(*parts)


def _md_table(header: list[str], rows: list[list[str]], align: str = "") -> list[str]:
    out = ["| " + " | ".join(header) + " |"]
    out.append("| " + " | ".join(align or ["---:"] * len(header)) + " |")
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def analyze_markdown(report: AnalyzeReport, *, all_epochs: bool = False) -> str:
    out: list[str] = [f"## predaudit analyze `{report.run}`", ""]
    for split in report.splits.values():
        out += [f"### split `{split.name}`", "", header_line(report.run, split), ""]
        h = split.hypothesis
        if h is not None:
            out += [f"**{VERDICT_TITLE[h.verdict]}.** {h.statement}", ""]
        rows = []
        for e in shown_epochs(split, all_epochs):
            r = split.row(e)
            rows.append(
                [
                    str(e),
                    _f(r.loss),
                    _pct(r.accuracy),
                    _f(r.loss_correct),
                    _f(r.loss_wrong),
                    _f(r.contribution_wrong),
                    _marks(split, e),
                ]
            )
        out += _md_table(
            ["epoch", "loss", "accuracy", "loss correct", "loss wrong", "wrong part", ""], rows
        )
        out.append("")
        c = split.comparison
        if c is None:
            out += [split.note or "No comparison.", ""]
            continue
        if c.transitions is not None:
            n_total = sum(x.n for x in c.transitions.values())
            trows = []
            for name in CELLS:
                cell = c.transitions[name]
                share = cell.contribution / c.delta_loss if c.delta_loss else None
                trows.append(
                    [
                        CELL_LABELS[name],
                        f"{cell.n:,}",
                        _pct(cell.n / n_total),
                        _f(cell.contribution, signed=True),
                        _pct(share, 0),
                        _f(cell.mean_delta, 2, signed=True),
                    ]
                )
            trows.append(
                [
                    "**all (ΔL)**",
                    f"{n_total:,}",
                    "100.0%",
                    _f(c.delta_loss, signed=True),
                    "100%",
                    "",
                ]
            )
            out.append(f"Transitions, epoch {c.from_epoch} → {c.to_epoch}:")
            out.append("")
            out += _md_table(
                ["samples were", "n", "% of n", "adds to ΔL", "% of ΔL", "mean Δloss"],
                trows,
                ["---", "---:", "---:", "---:", "---:", "---:"],
            )
        else:
            out.append(f"Transitions: not available: {c.transitions_reason}.")
        out += ["", shift_share_line(split).plain, ""]
    return "\n".join(out)


def analyze_csv(report: AnalyzeReport) -> str:
    """The per-epoch table of every split."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        [
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
        ]
    )
    for split in report.splits.values():
        for r in split.per_epoch:
            w.writerow(
                [
                    split.name,
                    r.epoch,
                    r.n_samples,
                    repr(r.loss),
                    repr(r.accuracy),
                    r.n_correct,
                    "" if r.loss_correct is None else repr(r.loss_correct),
                    "" if r.loss_wrong is None else repr(r.loss_wrong),
                    repr(r.contribution_correct),
                    repr(r.contribution_wrong),
                ]
            )
    return buf.getvalue()


def per_sample_csv(split: SplitAnalysis) -> str:
    """Per sample at the compared epochs: id, label, loss/pred/correct at both, Δloss, cell."""
    import pandas as pd

    s = split.samples
    c = split.comparison
    assert s is not None and c is not None
    a, b = c.from_epoch, c.to_epoch
    frame = pd.DataFrame(
        {
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
    )
    return frame.to_csv(index=False, lineterminator="\n", float_format="%.17g")


RENDERERS = {
    OutputFormat.TABLE: analyze_table,
    OutputFormat.JSON: lambda r, **_: to_json(r),
    OutputFormat.MARKDOWN: analyze_markdown,
    OutputFormat.CSV: lambda r, **_: analyze_csv(r),
}


def bundle_files(split: SplitAnalysis) -> list[tuple[str, str, str]]:
    """The data files ``--out`` writes for one split: ``(role, file name, text)``."""
    if split.samples is None:
        return []
    return [("per_sample", "per_sample.csv", per_sample_csv(split))]
