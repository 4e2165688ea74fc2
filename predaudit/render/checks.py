"""Renderers of check results (:mod:`predaudit.checks`): Rich table, Markdown, CSV.

They return renderables or strings; the CLI decides where they go. In CSV
output the checks go to stderr as their own CSV table (header
``expression,split,metric,value,op,threshold,passed``), so that stdout stays
one table.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from predaudit.checks import Baseline, CheckResult
from predaudit.errors import InputError
from predaudit.render import markdown, safe
from predaudit.render.numbers import DASH, metric_csv
from predaudit.render.numbers import metric_value as fmt_value
from predaudit.report.protocol import Report

CSV_HEADER = ("expression", "split", "metric", "value", "op", "threshold", "passed")


def summary_line(results: Sequence[CheckResult]) -> str:
    """``All 3 checks passed.`` or ``1 of 3 checks failed: <first failing check>.``"""
    n = len(results)
    failed = [r for r in results if not r.passed]
    noun = "check" if n == 1 else "checks"
    if not failed:
        return f"All {n} {noun} passed." if n != 1 else "The check passed."
    first = failed[0]
    where = "" if first.expression.startswith(f"{first.split}:") else f" on {first.split}"
    return (
        f"{len(failed)} of {n} {noun} failed: {first.expression}{where} "
        f"(value {fmt_value(first.value)})."
    )


def checks_table(results: Sequence[CheckResult]) -> Group:
    """Checks as a Rich table (expression, split, value, threshold, result) and a summary."""
    t = Table(title="Checks", title_justify="left")
    t.add_column("check")
    t.add_column("split")
    t.add_column("value", justify="right")
    t.add_column("threshold", justify="right")
    t.add_column("result")
    for r in results:
        t.add_row(
            r.expression,
            r.split,
            fmt_value(r.value),
            fmt_value(r.threshold),
            Text("pass", style="green") if r.passed else Text("FAIL", style="bold red"),
        )
    ok = all(r.passed for r in results)
    return Group(t, Text(summary_line(results), style="green" if ok else "bold red"))


def status_markdown(results: Sequence[CheckResult]) -> str:
    """One bold line for the top of a pull-request comment."""
    ok = all(r.passed for r in results)
    return f"**{'✅' if ok else '❌'} predaudit checks: {summary_line(results)}**"


def checks_markdown(results: Sequence[CheckResult]) -> str:
    """Checks as a Markdown table."""
    rows = [
        [
            markdown.code(r.expression),
            markdown.text(r.split),
            fmt_value(r.value),
            fmt_value(r.threshold),
            "✅ pass" if r.passed else "❌ **FAIL**",
        ]
        for r in results
    ]
    header = ["check", "split", "value", "threshold", "result"]
    return "\n".join(markdown.table(header, rows, "llrrl"))


def key_metrics_markdown(report: Report, baseline: Baseline | None = None) -> str:
    """The check metrics of every split as a Markdown table, beside the baseline's when given."""
    current = report.metrics()
    names = list(current)
    header = ["metric"]
    for name in names:
        header.append(name if len(names) > 1 else "value")
        if baseline is not None:
            header.append(f"baseline {name}" if len(names) > 1 else "baseline")
    matched: dict[str, str | None] = {}
    for name in names:
        try:
            matched[name] = baseline.match(name, current_splits=names) if baseline else None
        except InputError:  # an unmatched split shows no baseline here; checks report it
            matched[name] = None
    rows = []
    for m in next(iter(current.values())):
        row = [m]
        for name in names:
            row.append(fmt_value(current[name][m]))
            if baseline is not None:
                b = matched[name]
                row.append(fmt_value(baseline.splits[b][m]) if b is not None else DASH)
        rows.append(row)
    return "\n".join(markdown.table(header, rows, markdown.align(1, len(header))))


def ci_markdown(
    body: str,
    report: Report,
    results: Sequence[CheckResult],
    *,
    baseline: Baseline | None = None,
) -> str:
    """A pull-request comment: status line, the report's Markdown ``body``, key metrics, checks.

    ``body`` is the command's own Markdown (e.g. ``analyze_markdown(report)``).
    """
    parts = []
    if results:
        parts += [status_markdown(results), ""]
    parts += [body.rstrip("\n"), ""]
    title = "Key metrics" + (
        f" (baseline {markdown.code(baseline.path)})" if baseline is not None else ""
    )
    parts += [f"### {title}", "", key_metrics_markdown(report, baseline), ""]
    if results:
        parts += ["### Checks", "", checks_markdown(results), ""]
    return "\n".join(parts)


def checks_csv(results: Sequence[CheckResult]) -> str:
    """Checks as CSV: one header row, then one row per check and split.

    ``value``/``threshold`` are full-precision numbers, verdict words, or empty
    for n/a; ``passed`` is ``true`` or ``false``.
    """
    buf = io.StringIO()
    w = safe.writer(buf)
    w.writerow(CSV_HEADER)
    for r in results:
        w.writerow(
            [
                r.expression,
                r.split,
                r.metric,
                metric_csv(r.value),
                r.op,
                metric_csv(r.threshold),
                "true" if r.passed else "false",
            ]
        )
    return buf.getvalue()


def metric_table_markdown(metrics: Mapping[str, Any]) -> str:
    """The README table of metrics: name and meaning (``metrics`` from predaudit.checks)."""
    rows = [[f"`{m.name}`", m.description] for m in metrics.values()]
    return "\n".join(markdown.table(["metric", "meaning"], rows, "ll"))
