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
from predaudit.render.html_lazy import render_html
from predaudit.render.numbers import (
    BOUND_NOTE,
    at_bound,
    count,
    counted,
    fixed_finite,
    temperature,
    temperatures,
    undo_phrase,
)
from predaudit.report.calibration import (
    DIAGNOSIS,
    CalibrationComparison,
    CalibrationReport,
    EpochCalibration,
    SplitCalibration,
)
from predaudit.report.vocab import CELL_LABELS, CELLS

MAX_ROWS = 12
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


def _signed(x: float | None, digits: int = 3) -> str:
    return fixed_finite(x, digits, signed=True)


def _epoch_cells(split: SplitCalibration, marks: bool = False) -> list[list[str]]:
    """The cells of the per-epoch table (the shown epochs); ``marks``: ``▸``/``◂`` before
    the compared epochs."""
    shown = shown_epochs(split)
    c = split.comparison
    rows = []
    for r in split.per_epoch:
        if r.epoch not in shown:
            continue
        mark = ""
        if marks and c is not None and r.epoch in (c.from_epoch, c.to_epoch):
            mark = "▸" if r.epoch == c.from_epoch else "◂"
        rows.append(
            [
                f"{mark}{r.epoch}",
                fixed_finite(r.ece),
                fixed_finite(r.ece_noise_floor),
                fixed_finite(r.mce),
                fixed_finite(r.smece),
                fixed_finite(r.brier),
                fixed_finite(r.nll),
                _temperature_cell(r),
                fixed_finite(r.loss_at_temperature),
                fixed_finite(r.calibration_gap),
            ]
        )
    return rows


def _cell_cells(c: CalibrationComparison) -> list[list[str]]:
    """The cells of the per-cell table (without the total row); ``c.cells`` is not None."""
    assert c.cells is not None
    return [
        [
            CELL_LABELS[k],
            count(c.cells[k].n),
            _signed(c.cells[k].delta_loss, 4),
            _signed(c.cells[k].delta_loss_at_temperature, 4),
            _signed(c.cells[k].delta_calibration_gap, 4),
        ]
        for k in CELLS
    ]


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


def rise_line(split: SplitCalibration) -> str:
    """The verdict: how much of the rise one temperature would undo."""
    c = split.comparison
    assert c is not None
    fits = temperatures(split.compared_temperatures())
    lt = c.delta_loss_at_temperature
    moved = "rose" if lt > 0 else "fell"
    at_t = f"the loss at the best temperature {moved} by {abs(lt):.3f} nats"
    if c.temperature_share is None:
        return (
            f"The loss did not rise from epoch {c.from_epoch} to {c.to_epoch} "
            f"(ΔL {_signed(c.delta_loss)} nats) ({fits}); {at_t}."
        )
    return f"A single temperature would undo {undo_phrase(c.temperature_share, fits)}; {at_t}."


def _split_lines(run: str, split: SplitCalibration) -> list[str]:
    kind = "binary" if split.binary else f"{split.n_classes} classes"
    extra = f" · {count(split.n_ignored)} ignored" if split.n_ignored else ""
    return [
        f"{run} · {split.name} · {counted(split.n_samples, 'sample')} · {kind}{extra} · "
        f"{split.n_bins} {split.binning} bins",
        fit_line(split),
    ]


def epoch_table(split: SplitCalibration) -> Table:
    shown = shown_epochs(split)
    notes = []
    if len(shown) < len(split.per_epoch):
        notes.append(f"{len(shown)} of {len(split.per_epoch)} epochs (all in --format csv)")
    if _bound_shown(split):
        notes.append(BOUND_NOTE)
    caption = "\n".join(notes) or None
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
    for cells in _epoch_cells(split, marks=True):
        t.add_row(*cells)
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
    for cells in _cell_cells(c):
        t.add_row(*cells)
    t.add_row(
        "total",
        count(sum(x.n for x in c.cells.values())),
        _signed(c.delta_loss, 4),
        _signed(c.delta_loss_at_temperature, 4),
        _signed(c.delta_calibration_gap, 4),
        style="bold",
    )
    return t


def _comparison_lines(split: SplitCalibration) -> list[str]:
    c = split.comparison
    assert c is not None
    return [
        f"Epoch {c.from_epoch} → {c.to_epoch} ({c.from_reason.replace('_', ' ')}): "
        f"ΔL {_signed(c.delta_loss)} = ΔL@T* {_signed(c.delta_loss_at_temperature)} "
        f"+ Δgap {_signed(c.delta_calibration_gap)} nats",
        rise_line(split),
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
        lines = _comparison_lines(split)
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
        out += markdown.table(cols, _epoch_cells(split))
        out.append("")
        if _bound_shown(split):
            out += [markdown.text(BOUND_NOTE), ""]
        c = split.comparison
        if c is None:
            out += [split.note or "no comparison", ""]
            continue
        lines = _comparison_lines(split)
        out += [lines[0], "", f"**{lines[1]}**", ""]
        if c.cells is None:
            out += [f"Per cell: none; {c.cells_reason}.", ""]
        else:
            out += markdown.table(["cell", "n", "ΔL", "ΔL@T*", "Δgap"], _cell_cells(c), "lrrrr")
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


def _temperature_cell(r: EpochCalibration) -> str:
    """``T*`` of an epoch's row (``n/a`` when not finite)."""
    if not math.isfinite(r.temperature):
        return fixed_finite(r.temperature, 2)
    return temperature(r.temperature, r.temperature_status)


def _bound_shown(split: SplitCalibration) -> bool:
    """Some shown epoch's ``T*`` is at a bound of the fit's range."""
    shown = set(shown_epochs(split))
    return any(at_bound(r.temperature_status) for r in split.per_epoch if r.epoch in shown)
