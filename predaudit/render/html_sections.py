"""The sections of one split on the HTML page, each from one report object.

Every function returns an HTML fragment; the numbers are formatted with
:mod:`predaudit.render.numbers` as in the terminal tables, and every string is
escaped (:func:`~predaudit.render.html_parts.esc`). Figures are the ``plots``
package's, inline (:mod:`predaudit.render.html_figures`).
"""

from __future__ import annotations

from typing import Any

from predaudit.render.html_figures import FigureCounter, figure_html
from predaudit.render.html_parts import Td, answer, esc, para, section, table
from predaudit.render.numbers import (
    BOUND_NOTE,
    at_bound,
    count,
    fixed,
    fixed_finite,
    pct_fixed,
    prob,
    temperature,
)
from predaudit.render.top import top_title
from predaudit.render.wrong_to_wrong import analyze_line
from predaudit.report.analyze import SplitAnalysis
from predaudit.report.calibration import SplitCalibration
from predaudit.report.vocab import CELL_LABELS, CELLS


def question(split: SplitAnalysis) -> str:
    """The question the verdict answers, in plain words."""
    c = split.comparison
    if c is None:
        return "Did wrong predictions get more wrong?"
    return (
        f"Did the loss change from epoch {c.from_epoch} to {c.to_epoch} come from "
        "wrong predictions getting more wrong?"
    )


def verdict_block(split: SplitAnalysis) -> str:
    """The question, the verdict (a coloured box and badge) and the statement, first."""
    h = split.hypothesis
    if h is None:
        note = split.note or "There is nothing to compare."
        return (
            '<div class="verdict v-not_applicable">'
            f'<p class="q">{esc(question(split))}</p>'
            f'<p class="answer">{answer("not_applicable")}</p>'
            f'<p class="statement">{esc(note)}</p></div>'
        )
    extra = []
    if h.share is not None:
        extra.append(f"wrong → wrong share of ΔL: {pct_fixed(h.share, 0)}")
    if h.p_value is not None:
        extra.append(f"one-sided Wilcoxon p = {h.p_value:.3g} (α = {h.alpha:g})")
    if h.ci95 is not None:
        lo, hi = (fixed_finite(x, signed=True) for x in h.ci95)
        extra.append(f"95% bootstrap interval of the wrong → wrong part: [{lo}, {hi}] nats")
    if h.reason and " " in h.reason:  # a sentence, not a reason code the statement words
        extra.append(h.reason)
    extra_html = f'<p class="extra">{esc(" · ".join(extra))}</p>' if extra else ""
    return (
        f'<div class="verdict v-{esc(h.verdict)}" data-verdict="{esc(h.verdict)}">'
        f'<p class="q">{esc(question(split))}</p>'
        f'<p class="answer">{answer(h.verdict)}</p>'
        f'<p class="statement">{esc(h.statement)}</p>{extra_html}</div>'
    )


def _kpi(value: str, label: str) -> str:
    return f'<div class="kpi"><b>{esc(value)}</b><span>{esc(label)}</span></div>'


def kpis(split: SplitAnalysis) -> str:
    """Mean loss and accuracy at both compared epochs, and their change."""
    c = split.comparison
    if c is None:
        r = split.per_epoch[-1]
        items = [
            _kpi(fixed_finite(r.loss), "mean loss (nats)"),
            _kpi(pct_fixed(r.accuracy), "accuracy"),
        ]
    else:
        a, b = split.row(c.from_epoch), split.row(c.to_epoch)
        items = [
            _kpi(
                f"{fixed_finite(a.loss)} → {fixed_finite(b.loss)}",
                f"mean loss, epoch {a.epoch} → {b.epoch}",
            ),
            _kpi(fixed_finite(c.delta_loss, signed=True), "ΔL (nats)"),
            _kpi(f"{pct_fixed(a.accuracy)} → {pct_fixed(b.accuracy)}", "accuracy"),
            _kpi(pct_fixed(c.delta_accuracy, signed=True), "Δ accuracy"),
        ]
    return f'<div class="kpis">{"".join(items)}</div>'


def analysis_sections(split: SplitAnalysis, figs: FigureCounter) -> list[str]:
    """Curves, the loss split, the transition cells (table and figure), shift-share."""
    from predaudit.plots import (
        plot_loss_accuracy,
        plot_loss_distribution,
        plot_loss_split,
        plot_transitions,
    )

    curves = (
        '<div class="grid2">'
        + (
            figure_html(lambda: plot_loss_accuracy(split), figs, "loss and accuracy per epoch")
            + figure_html(lambda: plot_loss_split(split), figs, "loss of correct and wrong samples")
        )
        + "</div>"
    )
    out = [section("Loss and accuracy per epoch", curves + epoch_table(split))]
    c = split.comparison
    if c is None:
        return out
    if c.transitions is None:
        body = para(f"Transitions not available: {c.transitions_reason}.", "note")
    else:
        body = transition_table(split)
    body += para(shift_share(split))
    if line := analyze_line(c, split.sample_unit):
        body += para(line)
    plots = figure_html(lambda: plot_transitions(split), figs, "transition cells")
    if split.samples is not None:
        plots += figure_html(lambda: plot_loss_distribution(split), figs, "per-sample loss")
    body += f'<div class="grid2">{plots}</div>'
    out.append(
        section(f"Where the change in loss comes from, epoch {c.from_epoch} → {c.to_epoch}", body)
    )
    return out


def shift_share(split: SplitAnalysis) -> str:
    """ΔL as composition plus the severity of the correct and of the wrong samples."""
    c = split.comparison
    assert c is not None
    s = c.shift_share

    def worded(x: float, who: str) -> str:
        word = "got worse" if x > 0 else "got better" if x < 0 else "unchanged"
        return f"{who} {word} {fixed_finite(x, signed=True)}"

    d = c.delta_accuracy
    comp = "as many" if d == 0 else "more" if d < 0 else "fewer"
    return (
        f"Shift-share: {comp} wrong samples {fixed_finite(s.composition, signed=True)}, "
        f"{worded(s.correct_severity, 'correct samples')}, "
        f"{worded(s.wrong_severity, 'wrong samples')} "
        f"(sum {fixed_finite(c.delta_loss, signed=True)} = ΔL)."
    )


def epoch_table(split: SplitAnalysis) -> str:
    """Every epoch: mean loss of all, correct and wrong samples, accuracy, the wrong part."""
    c = split.comparison
    best = min(split.per_epoch, key=lambda r: r.loss).epoch
    rows = []
    for r in split.per_epoch:
        marks = [
            w for w, e in (("from", c and c.from_epoch), ("to", c and c.to_epoch)) if e == r.epoch
        ]
        marks += ["best"] if r.epoch == best else []
        rows.append(
            [
                r.epoch,
                Td(fixed_finite(r.loss), r.loss),
                Td(pct_fixed(r.accuracy), r.accuracy),
                Td(fixed_finite(r.loss_correct), r.loss_correct),
                Td(fixed_finite(r.loss_wrong), r.loss_wrong),
                Td(fixed_finite(r.contribution_wrong), r.contribution_wrong),
                ", ".join(marks),
            ]
        )
    header = ["epoch", "loss", "accuracy", "loss correct", "loss wrong", "wrong part", ""]
    caption = "Per epoch: mean loss (nats) of all, correct and wrong samples"
    return f"<details><summary>{esc(caption)}</summary>{table(header, rows)}</details>"


def transition_table(split: SplitAnalysis) -> str:
    """The four cells: size, part of ΔL, mean change of loss; the driver in bold."""
    c = split.comparison
    assert c is not None and c.transitions is not None
    n_total = sum(x.n for x in c.transitions.values())
    driver = split.hypothesis.driver if split.hypothesis else None
    rows = []
    for name in CELLS:
        cell = c.transitions[name]
        share = cell.contribution / c.delta_loss if c.delta_loss else None
        cls = "driver" if name == driver else None
        rows.append(
            [
                Td(CELL_LABELS[name], name, cls),
                Td(count(cell.n), cell.n, cls),
                Td(pct_fixed(cell.n / n_total if n_total else None), cell.n, cls),
                Td(fixed_finite(cell.contribution, signed=True), cell.contribution, cls),
                Td(pct_fixed(share, 0), share, cls),
                Td(fixed_finite(cell.mean_delta, 2, signed=True), cell.mean_delta, cls),
            ]
        )
    total = fixed_finite(c.delta_loss, signed=True)
    foot = [["all (ΔL)", count(n_total), "100.0%", total, "100%" if c.delta_loss else "–", ""]]
    header = ["samples were", "n", "% of n", "adds to ΔL", "% of ΔL", "mean Δloss"]
    return table(header, rows, foot=foot, cls="cells")


def calibration_section(cal: SplitCalibration, figs: FigureCounter) -> str:
    """The temperature share in words, the compared epochs' calibration, the figures."""
    from predaudit.plots.calibration import plot_reliability, plot_temperature, verdict

    c = cal.comparison
    finding = verdict(cal).split(": ", 1)[-1]
    body = para(finding[:1].upper() + finding[1:] + ".", "lead")
    if c is not None and c.temperature_share is not None:
        body += para(
            f"ΔL {fixed_finite(c.delta_loss, signed=True)} = Δ loss at T* "
            f"{fixed_finite(c.delta_loss_at_temperature, signed=True)} + Δ calibration gap "
            f"{fixed_finite(c.delta_calibration_gap, signed=True)} nats; temperatures fitted "
            f"on '{c.fitted_on}'" + (" itself (a diagnosis)" if cal.self_fitted else "") + "."
        )
    shown = [e for e in cal.bins] or [r.epoch for r in cal.per_epoch[-1:]]
    rows = []
    for e in shown:
        r = cal.row(e)
        rows.append(
            [
                r.epoch,
                Td(fixed(r.ece), r.ece),
                Td(fixed(r.ece_noise_floor), r.ece_noise_floor),
                Td(temperature(r.temperature, r.temperature_status), r.temperature),
                Td(fixed(r.nll), r.nll),
                Td(fixed(r.loss_at_temperature), r.loss_at_temperature),
                Td(fixed(r.calibration_gap), r.calibration_gap),
                Td(fixed(r.brier), r.brier),
            ]
        )
    header = ["epoch", "ECE", "noise floor", "T*", "NLL", "loss at T*", "gap", "Brier"]
    body += table(header, rows)
    if any(at_bound(cal.row(e).temperature_status) for e in shown):
        body += para(BOUND_NOTE)
    body += figure_html(lambda: plot_reliability(cal), figs, "reliability diagrams")
    body += figure_html(lambda: plot_temperature(cal), figs, "temperature per epoch")
    return section("Calibration: how much of it one temperature would undo", body)


def samples_section(split: SplitAnalysis, dynamics: Any | None, labels: list[Any] | None) -> str:
    """The samples whose loss rose most, with their data-map region when available (or the
    line saying no loss rose)."""
    c = split.comparison
    if c is None or split.top is None:
        return ""
    if not split.top:
        return para(top_title(split))
    region: dict[Any, str] = {}
    if dynamics is not None:
        s = dynamics.samples
        region = {s.ids[i]: str(s.region[i]) for i in range(len(s))}

    def name(k: int | None) -> str:
        if k is None:
            return "–"
        return str(labels[k]) if labels is not None and 0 <= k < len(labels) else str(k)

    rows = []
    for t in split.top:
        row: list[Any] = [
            Td(str(t.id), t.id if isinstance(t.id, int | float) else str(t.id)),
            Td(name(t.label), t.label),
            Td(name(t.pred_from), t.pred_from),
            Td(name(t.pred_to), t.pred_to),
            Td(fixed(t.loss_from, 3), t.loss_from),
            Td(fixed(t.loss_to, 3), t.loss_to),
            Td(fixed_finite(t.loss_to - t.loss_from, 3, signed=True), t.loss_to - t.loss_from),
            Td(f"{prob(t.p_true_from)} → {prob(t.p_true_to)}", t.p_true_to),
        ]
        if region:
            row.append(region.get(t.id, "–"))
        rows.append(row)
    header = [
        "id",
        "label",
        f"pred @{c.from_epoch}",
        f"pred @{c.to_epoch}",
        f"loss @{c.from_epoch}",
        f"loss @{c.to_epoch}",
        "Δloss",
        "p(true)",
    ]
    numeric = [True] * len(header)
    if region:
        header.append("region")
        numeric.append(False)
    return table(
        header,
        rows,
        numeric=numeric,
        caption=f"The {len(rows)} samples whose loss rose most, "
        f"epoch {c.from_epoch} → {c.to_epoch}",
    )


def rise_section(
    split: SplitAnalysis | None, dyn: Any | None, note: str | None, figs: FigureCounter,
    labels: list[Any] | None,
) -> str:  # fmt: skip
    """The data map (with ``dynamics``), the samples behind the rise as paired lines, the
    region counts and the samples whose loss rose most; empty when there is none of it."""
    from predaudit.plots import plot_rise_samples
    from predaudit.plots.dynamics import plot_data_map

    plots = ""
    if dyn is not None:
        plots += figure_html(lambda: plot_data_map(dyn), figs, "data map")
    if split is not None and split.comparison is not None and split.samples is not None:
        plots += figure_html(lambda: plot_rise_samples(split), figs, "the samples behind the rise")
    body = f'<div class="grid2">{plots}</div>' if plots else ""
    if dyn is None and note:
        body += para(f"Data map not available: {note}", "note")
    if dyn is not None:
        rows = [[Td(name, name), Td(count(n), n)] for name, n in dyn.region_counts.items()]
        never = dyn.never_learned
        rows.append([Td("never learned", "never learned"), Td(count(never), never)])
        span = f"{dyn.epochs[0]}–{dyn.epochs[-1]}"
        body += table(["region", "samples"], rows, caption=f"Regions over epochs {span}")
    if split is not None:
        body += samples_section(split, dyn, labels)
    if not plots and dyn is None and (split is None or split.top is None):
        return ""
    return section("Data map and the samples behind the rise", body)


def checks_section(results: list[Any]) -> str:
    """The ``--check`` results: a pass/fail line and one row per check."""
    from predaudit.render.checks import summary_line
    from predaudit.render.numbers import metric_value

    failed = any(not r.passed for r in results)
    rows = [
        [
            r.expression,
            r.split,
            metric_value(r.value),
            metric_value(r.threshold),
            Td("pass", 1, "pass") if r.passed else Td("FAIL", 0, "fail"),
        ]
        for r in results
    ]
    body = (
        f'<p class="{"checks-fail" if failed else "checks-pass"}">{esc(summary_line(results))}</p>'
    )
    body += table(
        ["check", "split", "value", "threshold", "result"],
        rows,
        numeric=[False, False, True, True, False],
    )
    return section("Checks", body, anchor="checks", level=2)


def inspection_section(s: Any) -> str:
    """What ``inspect`` found for one split, as a two-column table."""
    rows = [
        ["epochs", f"{len(s.epochs)} ({s.epochs[0]}–{s.epochs[-1]})" if s.epochs else "–"],
        ["samples", count(s.n_samples)],
        ["classes", str(s.n_classes)],
        ["scores", s.input_kind + ("" if s.kind_detected else " (given)")],
        ["labels", s.label_format],
        ["dtype", s.dtype],
        ["ids", "yes" if s.has_ids else "no"],
        ["aligned", "yes" if s.aligned else "no"],
        ["ignored", count(s.n_ignored)],
        ["files", ", ".join(s.files) or s.pattern],
    ]
    return table(["", ""], rows, numeric=[False, False], sortable=False)
