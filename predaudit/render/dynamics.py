"""Renderers of :class:`predaudit.report.dynamics.DynamicsReport`, and ``dynamics.csv``.

Every function takes the report and returns a Rich renderable or a string; none
prints. The terminal table fits 80 columns. ``--format csv`` is the per-sample
table (the columns of ``dynamics.csv``; a leading ``split`` column when the
report has several splits).

>>> sorted(f.value for f in RENDERERS)
['csv', 'json', 'markdown', 'table']
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from predaudit.render import OutputFormat, markdown, safe, to_json
from predaudit.render.numbers import DASH, count, counted, fixed, pct_fixed
from predaudit.render.wrong_to_wrong import (
    WW_HEADER,
    dynamics_heading,
    dynamics_rows,
    more_line,
    regions_phrase,
)
from predaudit.report.dynamics import (
    CSV_COLUMNS,
    PER_SAMPLE_CSV,
    DynamicsReport,
    SplitDynamics,
)

REGION_RULE = {
    "easy-to-learn": "confidence ≥ {easy}",
    "ambiguous": "variability ≥ {amb}",
    "hard-to-learn": "confidence ≤ {hard}",
    "other": "none of these",
}
SAMPLE_HEADER = ("id", "label", "conf.", "var.", "correct", "forgot", "learned", "AUM", "EL2N")
"""Columns of the sample lists: confidence, variability, fraction of correct epochs,
forgetting events, first epoch learned, AUM and EL2N."""
PROBLEM_HEADER = ("id", "label", "suspect", "wrong", "to suspect", "p(suspect)")


def _epochs_text(s: SplitDynamics) -> str:
    return f"epochs {s.epochs[0]}..{s.epochs[-1]} ({len(s.epochs)})"


def _header(s: SplitDynamics) -> str:
    ignored = f", {count(s.n_ignored)} ignored" if s.n_ignored else ""
    return (
        f"{_epochs_text(s)} · {counted(s.n_samples, 'sample')}{ignored} · {s.n_classes} classes "
        f"· {s.input_kind}"
    )


def region_rows(s: SplitDynamics) -> list[tuple[str, str, str, str]]:
    """Region, samples, share, rule."""
    th = s.thresholds
    fmt = {
        "easy": fixed(th.easy_confidence, 4),
        "amb": fixed(th.ambiguous_variability, 4),
        "hard": fixed(th.hard_confidence, 4),
    }
    return [
        (name, count(n), pct_fixed(n / s.n_samples), REGION_RULE[name].format(**fmt))
        for name, n in s.region_counts.items()
    ]


def _threshold_text(s: SplitDynamics) -> str:
    th = s.thresholds
    if th.method == "quantile" and th.fraction is not None:
        return (
            f"thresholds: quantiles, each rule selects {th.fraction:.0%} of the samples "
            "(as Cartography)"
        )
    return "thresholds: fixed values"


def sample_rows(s: SplitDynamics, positions: Sequence[int]) -> list[list[str]]:
    """The cells of the sample lists (``SAMPLE_HEADER``) for rows ``positions``."""
    out = []
    for i in positions:
        r = s.samples.row(i)
        out.append(
            [
                safe.one_line(r["id"]),  # user text: one line, escaped
                str(r["label"]),
                fixed(r["confidence"]),
                fixed(r["variability"]),
                pct_fixed(r["correctness"], 0),
                str(r["forgetting_events"]),
                DASH if r["first_learned"] is None else str(r["first_learned"]),
                fixed(r["aum"], 2),
                fixed(r["el2n"], 2),
            ]
        )
    return out


def problem_rows(s: SplitDynamics) -> list[list[str]]:
    """The cells of the likely label problems (``PROBLEM_HEADER``)."""
    return [
        [
            safe.one_line(p.id),
            str(p.label),
            str(p.suspect_class),
            pct_fixed(p.wrong_fraction, 0),
            pct_fixed(p.consistency, 0),
            fixed(p.confidence),
        ]
        for p in s.label_problems.samples
    ]


def _problems_heading(s: SplitDynamics) -> str:
    lp = s.label_problems
    shown = f", top {len(lp.samples)}" if 0 < len(lp.samples) < lp.n_candidates else ""
    return (
        f"Likely label problems: {count(lp.n_candidates)}{shown} (wrong ≥ "
        f"{lp.min_wrong_fraction:.0%} of epochs, ≥ {lp.min_consistency:.0%} to one class)"
    )


def notes(s: SplitDynamics) -> list[str]:
    """What is missing and why, and what the columns mean."""
    out = [
        "conf., var.: mean and std (ddof 0) of p(true class) over the epochs",
        "correct: share of correct epochs; forgot: correct → wrong changes",
        "learned: first correct epoch (– never)",
    ]
    out.append(f"AUM: {s.aum_note}" if s.aum_note else "AUM: mean logit margin over the epochs")
    if s.el2n_note:
        out.append(f"EL2N: {s.el2n_note}")
    else:
        out.append(f"EL2N: sqrt(Brier score) at epoch {s.el2n_epoch}")
    return out


# -- table -------------------------------------------------------------------------------


def _table(*header: str, left: int = 1) -> Table:
    t = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 1, 0, 0),
        pad_edge=False,
    )
    for j, h in enumerate(header):
        t.add_column(h, justify="left" if j < left else "right", no_wrap=True)
    return t


def _titled(heading: str, t: Table) -> Group:
    return Group(Text(heading, style="bold"), t)


def split_table(s: SplitDynamics, run: str) -> Group:
    """One split: header, regions, most ambiguous, hardest, likely label problems, notes."""
    parts: list[RenderableType] = [
        Text(f"{run} · split {s.name}", style="bold"),
        Text(_header(s)),
        Text(""),
    ]
    t = _table("region", "samples", "share", "rule", left=1)
    t.columns[3].justify = "left"
    for row in region_rows(s):
        t.add_row(*row)
    parts += [_titled("Data map regions", t), Text(_threshold_text(s), style="dim")]
    parts.append(
        Text(
            f"never learned: {count(s.never_learned)} · forgotten at least once: "
            f"{count(s.forgotten_at_least_once)}"
        )
    )
    for heading, positions in (
        ("Most ambiguous (highest variability)", s.most_ambiguous),
        ("Hardest (lowest confidence)", s.hardest),
    ):
        if positions:
            t = _table(*SAMPLE_HEADER, left=1)
            for cells in sample_rows(s, positions):
                t.add_row(*cells)
            parts += [Text(""), _titled(heading, t)]
    lp = s.label_problems
    parts += [Text(""), Text(_problems_heading(s), style="bold")]
    if lp.samples:
        t = _table(*PROBLEM_HEADER, left=1)
        for cells in problem_rows(s):
            t.add_row(*cells)
        parts += [t, Text("They may be mislabeled or genuinely hard — inspect them.")]
    elif lp.n_candidates == 0:
        parts.append(Text("none found"))
    else:
        parts.append(Text("not listed (--top 0)"))
    if (w := s.wrong_to_wrong) is not None:
        parts += [Text(""), Text(dynamics_heading(w), style="bold"), Text(regions_phrase(w.counts))]
        rows, more = dynamics_rows(w, s.top)
        if rows:
            t = _table(*WW_HEADER, left=1)
            t.columns[2].justify = "left"
            for cells in rows:
                t.add_row(*cells)
            parts.append(t)
        if more:
            parts.append(Text(more_line(more, s.top)))
    parts += [Text("")] + [Text(n, style="dim") for n in notes(s)]
    return Group(*parts)


def dynamics_table(report: DynamicsReport) -> Group:
    """Every split, one after the other."""
    parts: list[RenderableType] = []
    for k, s in enumerate(report.splits.values()):
        if k:
            parts.append(Text(""))
        parts.append(split_table(s, report.run))
    return Group(*parts)


# -- markdown ----------------------------------------------------------------------------


def dynamics_markdown(report: DynamicsReport) -> str:
    out = [f"# predaudit dynamics {markdown.code(report.run)}", ""]
    for name, s in report.splits.items():
        out += [f"## split {markdown.code(name)}", "", markdown.text(_header(s)), ""]
        out += markdown.table(
            ["region", "samples", "share", "rule"], region_rows(s), "lrrl", escape=True
        )
        out += ["", _threshold_text(s) + ".", ""]
        out += [
            f"Never learned: {count(s.never_learned)}; forgotten at least once: "
            f"{count(s.forgotten_at_least_once)}.",
            "",
        ]
        for heading, positions in (
            ("Most ambiguous (highest variability)", s.most_ambiguous),
            ("Hardest (lowest confidence)", s.hardest),
        ):
            if positions:
                out += [f"### {heading}", ""]
                rows = sample_rows(s, positions)
                out += markdown.table(SAMPLE_HEADER, rows, "l" + "r" * 8, escape=True) + [""]
        out += [f"### {_problems_heading(s)}", ""]
        if s.label_problems.samples:
            rows = problem_rows(s)
            out += markdown.table(PROBLEM_HEADER, rows, "l" + "r" * 5, escape=True) + [""]
            out += ["They may be mislabeled or genuinely hard — inspect them.", ""]
        else:
            out += ["None found." if s.label_problems.n_candidates == 0 else "Not listed.", ""]
        if (w := s.wrong_to_wrong) is not None:
            out += [f"### {dynamics_heading(w)}", "", regions_phrase(w.counts) + ".", ""]
            rows, more = dynamics_rows(w, s.top)
            if rows:
                out += markdown.table(WW_HEADER, rows, "lrlrr", escape=True) + [""]
            if more:
                out += [more_line(more, s.top), ""]
        out += [f"- {n}" for n in notes(s)] + [""]
    return "\n".join(out)


# -- csv ---------------------------------------------------------------------------------


def _csv_value(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        return repr(x)  # the shortest text that reads back as the same float
    return str(x)


def per_sample_csv(s: SplitDynamics, *, split_column: bool = False) -> str:
    """``dynamics.csv``: one row per sample (``CSV_COLUMNS``); empty cells for missing values."""
    buf = io.StringIO()
    w = safe.writer(buf)
    w.writerow((["split"] if split_column else []) + list(CSV_COLUMNS))
    lead = [s.name] if split_column else []
    for i in range(len(s.samples)):
        r = s.samples.row(i)
        w.writerow(lead + [_csv_value(r[c]) for c in CSV_COLUMNS])
    return buf.getvalue()


def dynamics_csv(report: DynamicsReport) -> str:
    """The per-sample table; with several splits, a leading ``split`` column."""
    several = len(report.splits) > 1
    parts = [per_sample_csv(s, split_column=several) for s in report.splits.values()]
    if several:  # one header
        parts = [parts[0]] + [p.split("\n", 1)[1] for p in parts[1:]]
    return "".join(parts)


Renderer = Callable[..., RenderableType]
RENDERERS: dict[OutputFormat, Renderer] = {
    OutputFormat.TABLE: dynamics_table,
    OutputFormat.JSON: to_json,
    OutputFormat.MARKDOWN: dynamics_markdown,
    OutputFormat.CSV: dynamics_csv,
}


def bundle_files(split: SplitDynamics) -> list[tuple[str, str, str]]:
    """The data files ``--out`` writes for one split: ``(role, file name, text)``."""
    return [("per_sample", PER_SAMPLE_CSV, per_sample_csv(split))]
