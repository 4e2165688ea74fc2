"""The HTML report: one self-contained, offline page (``predaudit report``, ``--format html``).

One file: figures inline as SVG, the style and a few lines of script inline, a
Content-Security-Policy that forbids fetching anything (:data:`~predaudit.render.html_parts.CSP`),
and no URL anywhere. Per split, in this order: the question and the verdict in
plain words (badge coloured as the terminal table: supported red, inconclusive
yellow, rejected green, not applicable grey), the loss/accuracy curves and the
loss split, the transition cells (table and figure), calibration (the temperature
share and the reliability diagrams), the data map and the samples behind the rise,
and the confusion matrix and its change; then the checks. Every user-controlled
string is escaped. The page has no JSON form and so no schema.

:func:`page_html` renders a :class:`~predaudit.page.ReportPage`; :func:`render_html`
is the ``--format html`` renderer of every command (the sections its report has).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from predaudit.render.headline import header_line
from predaudit.render.html_confusion import confusion_section
from predaudit.render.html_figures import FigureCounter
from predaudit.render.html_parts import CSP, SCRIPT, STYLE, anchor_id, badge, esc, para, section
from predaudit.render.html_sections import (
    analysis_sections,
    calibration_section,
    checks_section,
    inspection_section,
    kpis,
    rise_section,
    verdict_block,
)
from predaudit.report.page import ReportPage, SplitPage, page_of_report
from predaudit.version import __version__


def split_html(run: str, split: SplitPage, figs: FigureCounter) -> str:
    """Every section of one split, the verdict first."""
    a = split.analysis
    out = [f'<h2 id="{anchor_id("split", split.name)}">Split {esc(split.name)}</h2>']
    if a is not None:
        out.append(f'<p class="meta">{esc(header_line(run, a))}</p>')
        out.append(verdict_block(a))
        out.append(kpis(a))
        out += analysis_sections(a, figs)
    if split.inspection is not None:
        out.append(inspection_section(split.inspection))
    if split.calibration is not None:
        out.append(calibration_section(split.calibration, figs))
    elif "calibration" in split.notes:
        out.append(section("Calibration", para(split.notes["calibration"], "note")))
    labels = list(split.confusion.epoch.labels) if split.confusion is not None else None
    out.append(rise_section(a, split.dynamics, split.notes.get("dynamics"), figs, labels))
    if split.confusion is not None:
        out.append(confusion_section(split.confusion, figs))
    return "\n".join(out)


def _nav(page: ReportPage) -> str:
    """With several splits: one line per split, its verdict badge and a link to it."""
    if len(page.splits) < 2:
        return ""
    items = []
    for s in page.splits.values():
        h = s.analysis.hypothesis if s.analysis is not None else None
        tag = badge(h.verdict if h is not None else "not_applicable") if s.analysis else ""
        link = f'<a href="#{anchor_id("split", s.name)}">{esc(s.name)}</a>'
        items.append(f"<li>{tag} {link}</li>" if tag else f"<li>{link}</li>")
    if page.checks:
        items.append('<li><a href="#checks">checks</a></li>')
    return f'<nav class="splits"><ul>{"".join(items)}</ul></nav>'


def page_html(page: ReportPage) -> str:
    """The whole page: a self-contained HTML document (a string)."""
    from predaudit.render.checks import summary_line

    figs = FigureCounter()
    body = [split_html(page.run, s, figs) for s in page.splits.values()]
    status = ""
    if page.checks:
        failed = any(not r.passed for r in page.checks)
        cls = "checks-fail" if failed else "checks-pass"
        status = f'<p class="{cls}">{esc(summary_line(page.checks))}</p>'
        body.append(checks_section(page.checks))
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{esc(page.title)} · {esc(page.run)}</title>",
            f"<style>{STYLE}</style>",
            "</head>",
            "<body>",
            f'<header class="top"><h1>{esc(page.title)}</h1><p>{esc(page.run)}</p></header>',
            "<main>",
            status,
            _nav(page),
            *body,
            f"<footer>predaudit {esc(__version__)} · losses in nats · "
            "this page fetches nothing and works offline</footer>",
            "</main>",
            f"<script>{SCRIPT}</script>",
            "</body>",
            "</html>",
            "",
        ]
    )


def render_html(report: Any, *, checks: Sequence[Any] = (), **_: object) -> str:
    """``--format html`` of any command: a page with the sections its report has, and the
    ``--check`` results when given."""
    name = report.SCHEMA.split(".")[1].split("/")[0]
    page = page_of_report(report, f"predaudit {name}")
    return page_html(dataclasses.replace(page, checks=list(checks)))
