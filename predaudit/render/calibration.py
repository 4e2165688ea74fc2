"""Renderers of :class:`predaudit.report.calibration.CalibrationReport`: table, Markdown, CSV.

Every renderer takes the report (and ignores keyword options it does not use);
``bundle_files(split)`` gives the data files of ``--out``.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from predaudit.render import OutputFormat, markdown, safe, to_json
from predaudit.render.html import render_html
from predaudit.report.calibration import (
    DIAGNOSIS,
    CalibrationComparison,
    CalibrationReport,
    SplitCalibration,
)
from predaudit.report.vocab import CELL_LABELS, CELLS

MAX_ROWS = 12
DASH = "—"
CSV_FIELDS = (
    "split",
    "epoch",
    "n_samples",
    "ece",
    "mce",
    "rmsce",
    "smece",
    "positive_class_ece",
    "brier",
    "nll",
    "ece_noise_floor",
    "temperature",
    "loss_at_temperature",
    "calibration_gap",
    "temperature_iterations",
    "temperature_status",
)


def _f(x: float | None, digits: int = 3) -> str:
    if x is None or not math.isfinite(x):
        return DASH
    return f"{x:.{digits}f}"


def _signed(x: float | None, digits: int = 3) -> str:
    if x is None or not math.isfinite(x):
        return DASH
    return f"{x:+.{digits}f}"


def _pct(x: float | None) -> str:
    return DASH if x is None or not math.isfinite(x) else f"{100 * x:.0f}%"


def shown_epochs(split: SplitCalibration) -> list[int]:
    """All epochs up to :data:`MAX_ROWS`; else first, compared, last and evenly spaced."""
    epochs = [r.epoch for r in split.per_epoch]
    if len(epochs) <= MAX_ROWS:
        return epochs
    keep = {epochs[0], epochs[-1]}
    if split.comparison is not None:
        keep |= {split.comparison.from_epoch, split.comparison.to_epoch}
    for i in np.linspace(0, len(epochs) - 1, MAX_ROWS).round().astype(int):
        if len(keep) >= MAX_ROWS:
            break
        keep.add(epochs[i])
    return [e for e in epochs if e in keep]


def fit_line(split: SplitCalibration) -> str:
    """Where the temperatures come from."""
    if split.self_fitted:
        return f"T* fitted on split '{split.name}' itself: {DIAGNOSIS} (use --fit-on)."
    return f"T* fitted per epoch on split '{split.fitted_on}', applied to '{split.name}'."


def rise_line(c: CalibrationComparison) -> str:
    """The verdict: how much of the rise one temperature would undo."""
    temps = f"(T* {c.temperature_from:.2f} → {c.temperature_to:.2f})"
    lt = c.delta_loss_at_temperature
    moved = "rose" if lt > 0 else "fell"
    at_t = f"the loss at the best temperature {moved} by {abs(lt):.3f} nats"
    if c.temperature_share is None:
        return (
            f"The loss did not rise from epoch {c.from_epoch} to {c.to_epoch} "
            f"(ΔL {_signed(c.delta_loss)} nats) {temps}; {at_t}."
        )
    return (
        f"A single temperature would undo {_pct(c.temperature_share)} of the rise {temps}; {at_t}."
    )


def _split_lines(run: str, split: SplitCalibration) -> list[str]:
    kind = "binary" if split.binary else f"{split.n_classes} classes"
    extra = f" · {split.n_ignored:,} ignored" if split.n_ignored else ""
    return [
        f"{run} · {split.name} · {split.n_samples:,} samples · {kind}{extra} · "
        f"{split.n_bins} {split.binning} bins",
        fit_line(split),
    ]


def epoch_table(split: SplitCalibration) -> Table:
    shown = shown_epochs(split)
    caption = None
    if len(shown) < len(split.per_epoch):
        caption = f"{len(shown)} of {len(split.per_epoch)} epochs (all in --format csv)"
    t = Table(
        title="Per epoch (ECE floor: a calibrated model's ECE; gap = NLL − L@T*, nats)",
        title_justify="left",
        caption=caption,
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    t.add_column("epoch", justify="right")
    for name in ("ECE", "floor", "MCE", "smECE", "Brier", "NLL", "T*", "L@T*", "gap"):
        t.add_column(name, justify="right")
    c = split.comparison
    for r in split.per_epoch:
        if r.epoch not in shown:
            continue
        mark = ""
        if c is not None and r.epoch in (c.from_epoch, c.to_epoch):
            mark = "▸" if r.epoch == c.from_epoch else "◂"
        t.add_row(
            f"{mark}{r.epoch}",
            _f(r.ece),
            _f(r.ece_noise_floor),
            _f(r.mce),
            _f(r.smece),
            _f(r.brier),
            _f(r.nll),
            _f(r.temperature, 2),
            _f(r.loss_at_temperature),
            _f(r.calibration_gap),
        )
    return t


def cells_table(c: CalibrationComparison) -> Table | Text:
    if c.cells is None:
        return Text(f"Per cell: none; {c.cells_reason}.")
    t = Table(
        title=f"The change {c.from_epoch} → {c.to_epoch} per cell (nats, summing to ΔL)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for name in ("cell", "n", "ΔL", "ΔL@T*", "Δgap"):
        t.add_column(name, justify="left" if name == "cell" else "right")
    for k in CELLS:
        cell = c.cells[k]
        t.add_row(
            CELL_LABELS[k],
            f"{cell.n:,}",
            _signed(cell.delta_loss, 4),
            _signed(cell.delta_loss_at_temperature, 4),
            _signed(cell.delta_calibration_gap, 4),
        )
    t.add_row(
        "total",
        f"{sum(x.n for x in c.cells.values()):,}",
        _signed(c.delta_loss, 4),
        _signed(c.delta_loss_at_temperature, 4),
        _signed(c.delta_calibration_gap, 4),
        style="bold",
    )
    return t


def _comparison_lines(c: CalibrationComparison) -> list[str]:
    return [
        f"Epoch {c.from_epoch} → {c.to_epoch} ({c.from_reason.replace('_', ' ')}): "
        f"ΔL {_signed(c.delta_loss)} = ΔL@T* {_signed(c.delta_loss_at_temperature)} "
        f"+ Δgap {_signed(c.delta_calibration_gap)} nats",
        rise_line(c),
    ]


def calibration_table(report: CalibrationReport, **_: Any) -> RenderableType:
    """Per split: header, per-epoch table, the split of the rise and its cells."""
    parts: list[RenderableType] = []
    for split in report.splits.values():
        head = _split_lines(report.run, split)
        parts.append(Text(head[0], style="bold"))
        parts.append(Text(head[1]))
        parts.append(epoch_table(split))
        c = split.comparison
        if c is None:
            parts.append(Text(split.note or "no comparison"))
            continue
        lines = _comparison_lines(c)
        parts.append(Text(lines[0]))
        parts.append(Text(lines[1], style="bold"))
        parts.append(cells_table(c))
    return Group(*parts)


def calibration_markdown(report: CalibrationReport, **_: Any) -> str:
    out = [f"# predaudit calibration {markdown.code(report.run)}", ""]
    for split in report.splits.values():
        head = [markdown.text(line) for line in _split_lines(report.run, split)]
        out += [f"## split {markdown.code(split.name)}", "", head[0], "", f"_{head[1]}_", ""]
        cols = ["epoch", "ECE", "floor", "MCE", "smECE", "Brier", "NLL", "T*", "L@T*", "gap"]
        out += ["| " + " | ".join(cols) + " |", "|" + " ---: |" * len(cols)]
        for r in split.per_epoch:
            if r.epoch not in shown_epochs(split):
                continue
            vals = [
                str(r.epoch),
                _f(r.ece),
                _f(r.ece_noise_floor),
                _f(r.mce),
                _f(r.smece),
                _f(r.brier),
                _f(r.nll),
                _f(r.temperature, 2),
                _f(r.loss_at_temperature),
                _f(r.calibration_gap),
            ]
            out.append("| " + " | ".join(vals) + " |")
        out.append("")
        c = split.comparison
        if c is None:
            out += [split.note or "no comparison", ""]
            continue
        lines = _comparison_lines(c)
        out += [lines[0], "", f"**{lines[1]}**", ""]
        if c.cells is None:
            out += [f"Per cell: none; {c.cells_reason}.", ""]
        else:
            out += ["| cell | n | ΔL | ΔL@T* | Δgap |", "| --- | ---: | ---: | ---: | ---: |"]
            for k in CELLS:
                x = c.cells[k]
                out.append(
                    f"| {CELL_LABELS[k]} | {x.n:,} | {_signed(x.delta_loss, 4)} | "
                    f"{_signed(x.delta_loss_at_temperature, 4)} | "
                    f"{_signed(x.delta_calibration_gap, 4)} |"
                )
            out.append("")
    return "\n".join(out)


def per_epoch_csv(split: SplitCalibration) -> str:
    """The per-epoch table of one split, every epoch, full precision."""
    buf = io.StringIO()
    w = safe.writer(buf)
    w.writerow(CSV_FIELDS)
    for r in split.per_epoch:
        d = r.to_dict()
        w.writerow([split.name] + ["" if d[k] is None else repr(d[k]) if isinstance(d[k], float)
                                   else d[k] for k in CSV_FIELDS[1:]])  # fmt: skip
    return buf.getvalue()


def calibration_csv(report: CalibrationReport, **_: Any) -> str:
    """The per-epoch table of every split (one header)."""
    texts = [per_epoch_csv(s) for s in report.splits.values()]
    return texts[0] + "".join(t.split("\n", 1)[1] for t in texts[1:])


def calibration_json(report: CalibrationReport, **_: Any) -> str:
    return to_json(report)


RENDERERS = {
    OutputFormat.TABLE: calibration_table,
    OutputFormat.JSON: calibration_json,
    OutputFormat.MARKDOWN: calibration_markdown,
    OutputFormat.CSV: calibration_csv,
    OutputFormat.HTML: render_html,
}


def bundle_files(split: SplitCalibration) -> list[tuple[str, str, str]]:
    """The data files of ``--out`` for one split: ``(role, file name, text)``."""
    return [("per_epoch", "calibration_per_epoch.csv", per_epoch_csv(split))]
