"""Renderers of :class:`predaudit.report.InspectReport`."""

from __future__ import annotations

import io

from rich.console import Group
from rich.table import Table

from predaudit.render import OutputFormat, markdown, safe, to_json
from predaudit.render.html_lazy import render_html
from predaudit.render.losses import epsilon
from predaudit.report.inspect import InspectReport, SplitInspection


def _epochs_text(epochs: list[int], unit: str = "epoch") -> str:
    if len(epochs) == 1:
        return f"1 ({unit} {epochs[0]})"
    return (
        f"{len(epochs)} ({unit}s {epochs[0]} … {epochs[-1]})"
        if unit != "epoch"
        else (f"{len(epochs)} ({epochs[0]} … {epochs[-1]})")
    )


def _tokens_text(s: SplitInspection) -> str:
    if s.tokens_per_sequence is None:
        return ""
    return f" (sequences of {s.tokens_per_sequence} positions; -100 positions ignored)"


def _rows(s: SplitInspection) -> list[tuple[str, str]]:
    kind = f"{s.input_kind} ({'detected' if s.kind_detected else 'given'})"
    ids = "present, aligned" if s.has_ids else "none (aligned by position)"
    if not s.aligned:
        ids = "none; labels differ between epochs: NOT aligned (save sample ids)"
    rows = [
        ("files", s.pattern),
        ("epochs", _epochs_text(s.epochs, s.epoch_unit)),
        (f"{s.sample_unit}s", f"{s.n_samples:,}" + _tokens_text(s)),
        ("classes", f"{s.n_classes}" + (" (one binary score per sample)" if s.binary else "")),
        ("dtype", s.dtype),
        ("score kind", kind),
        ("labels", s.label_format),
        ("sample ids", ids),
        ("ignored (-100)", f"{s.n_ignored:,}"),
    ]
    if s.clip is not None:
        rows.append(("clip (--clip)", f"[{epsilon(s.clip)}, 1 − {epsilon(s.clip)}]"))
    if s.n_clipped or s.clip is not None:
        rows.append(("clipped values", f"{s.n_clipped:,}"))
    if s.n_floored:
        rows.append(("floored values (p = 0)", f"{s.n_floored:,}"))
    return rows


def inspect_table(report: InspectReport) -> Group:
    """One two-column Rich table per split."""
    parts = []
    for name, s in report.splits.items():
        t = Table(title=f"{report.run} · split {name}", title_justify="left", show_header=False)
        t.add_column("field", style="bold")
        t.add_column("value", overflow="fold")
        for k, v in _rows(s):
            t.add_row(k, v)
        parts.append(t)
    return Group(*parts)


def inspect_markdown(report: InspectReport) -> str:
    out = [f"# predaudit inspect {markdown.code(report.run)}", ""]
    for name, s in report.splits.items():
        out += [f"## split {markdown.code(name)}", ""]
        out += [*markdown.table(["field", "value"], _rows(s), "ll"), ""]
    return "\n".join(out)


def inspect_csv(report: InspectReport) -> str:
    buf = io.StringIO()
    w = safe.writer(buf)
    fields = [
        "split",
        "epochs",
        "first_epoch",
        "last_epoch",
        "n_samples",
        "n_classes",
        "dtype",
        "input_kind",
        "kind_detected",
        "label_format",
        "has_ids",
        "aligned",
        "n_ignored",
    ]
    w.writerow(fields)
    for name, s in report.splits.items():
        w.writerow(
            [
                name,
                len(s.epochs),
                s.epochs[0],
                s.epochs[-1],
                s.n_samples,
                s.n_classes,
                s.dtype,
                s.input_kind,
                s.kind_detected,
                s.label_format,
                s.has_ids,
                s.aligned,
                s.n_ignored,
            ]
        )
    return buf.getvalue()


RENDERERS = {
    OutputFormat.TABLE: inspect_table,
    OutputFormat.JSON: to_json,
    OutputFormat.MARKDOWN: inspect_markdown,
    OutputFormat.CSV: inspect_csv,
    OutputFormat.HTML: render_html,
}
