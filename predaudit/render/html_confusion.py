"""The confusion section of the HTML page: the matrix, its change and the pairs that moved.

Like :mod:`predaudit.render.html_sections`: an HTML fragment from the report object,
numbers as in the terminal tables, every string escaped.
"""

from __future__ import annotations

from typing import Any

from predaudit.render.html_figures import FigureCounter, figure_html
from predaudit.render.html_parts import Td, esc, para, section, table
from predaudit.render.numbers import fixed, fixed_finite, pct_fixed, signed_int
from predaudit.report.confusion import SplitConfusion

HEAT_MAX_CLASSES = 20
"""Up to this many classes the change of the confusion matrix is shown as a table."""


def confusion_section(conf: SplitConfusion, figs: FigureCounter) -> str:
    """The confusion matrix at the compared ``to`` epoch, its change and the pairs that moved."""
    from predaudit.plots import plot_confusion

    e = conf.epoch
    names = [str(x) for x in e.labels]
    body = para(
        f"Epoch {e.epoch}: accuracy {pct_fixed(e.accuracy)}, macro F1 {fixed(e.macro.f1)}, "
        f"mean loss {fixed(e.loss)} nats."
    )
    body += figure_html(
        lambda: plot_confusion(e.matrix, names, top_pairs=e.top_confusions),
        figs,
        "confusion matrix",
    )
    d = conf.diff
    if d is not None:
        body += f"<h4>{esc(f'Change from epoch {d.from_epoch} to {d.to_epoch}')}</h4>"
        if len(names) <= HEAT_MAX_CLASSES:
            body += heat_table(d.matrix, names)
        rows = [
            [
                Td(str(p.true), p.true_index),
                Td(str(p.pred), p.pred_index),
                p.count_from,
                p.count_to,
                Td(signed_int(p.change), p.change),
            ]
            for p in [*d.grew, *d.shrank]
        ]
        if rows:
            header = ["true", "predicted", f"@{d.from_epoch}", f"@{d.to_epoch}", "change"]
            body += table(
                header,
                rows,
                numeric=[False, False, True, True, True],
                caption="Confusions that grew or shrank most",
            )
        rows = [
            [
                Td(str(k.label), k.index),
                Td(pct_fixed(k.recall_from), k.recall_from),
                Td(pct_fixed(k.recall_to), k.recall_to),
                Td(fixed_finite(k.mean_loss_from), k.mean_loss_from),
                Td(fixed_finite(k.mean_loss_to), k.mean_loss_to),
                Td(fixed_finite(k.delta_contribution, signed=True), k.delta_contribution),
            ]
            for k in d.per_class
        ]
        header = [
            "class",
            f"recall @{d.from_epoch}",
            f"recall @{d.to_epoch}",
            f"loss @{d.from_epoch}",
            f"loss @{d.to_epoch}",
            "adds to ΔL",
        ]
        body += table(header, rows, caption="Per true class: recall, mean loss and part of ΔL")
    return section("Confusion matrix and its change", body)


def heat_table(matrix: Any, names: list[str]) -> str:
    """The count change of every (true, predicted) cell, coloured by sign and size."""
    import numpy as np

    m = np.asarray(matrix).astype(int)
    big = max(1, int(np.abs(m).max(initial=0)))
    out = [
        '<table class="heat"><caption>Count change (rows: true class, columns: predicted; '
        "red: worse, more confusion or fewer correct; green: better)"
        '</caption><thead><tr><th scope="col">true \\ pred</th>'
    ]
    out += [f'<th scope="col">{esc(n)}</th>' for n in names]
    out.append("</tr></thead><tbody>")
    for i, name in enumerate(names):
        cells = []
        for j in range(len(names)):
            v = int(m[i, j])
            a = 0.12 + 0.6 * abs(v) / big
            bad = (v > 0) != (i == j)  # more off-diagonal or fewer on it: worse
            colour = f"rgba(198,40,40,{a:.2f})" if bad else f"rgba(27,127,59,{a:.2f})"
            style = f' style="background:{colour}"' if v else ""
            cells.append(f"<td{style}>{esc(signed_int(v))}</td>")
        out.append(f'<tr><th scope="row">{esc(name)}</th>{"".join(cells)}</tr>')
    out.append("</tbody></table>")
    return "\n".join(out)
