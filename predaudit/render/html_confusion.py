"""The confusion section of the HTML page: the matrix, its change and the pairs that moved.

Like :mod:`predaudit.render.html_sections`: an HTML fragment from the report object,
numbers as in the terminal tables, every string escaped.
"""

from __future__ import annotations

from predaudit.render.html_figures import FigureCounter, figure_html
from predaudit.render.html_parts import Td, para, section, table
from predaudit.render.numbers import fixed, fixed_finite, pct_fixed, signed_int
from predaudit.report.confusion import SplitConfusion


def confusion_section(conf: SplitConfusion, figs: FigureCounter) -> str:
    """The confusion matrix at the compared ``to`` epoch, its change and the pairs that moved."""
    from predaudit.plots import plot_confusion, plot_confusion_diff
    from predaudit.plots.confusion_pairs import (
        PLOT_MAX_CLASSES,
        plot_confusion_changes,
        plot_top_confusions,
    )

    e = conf.epoch
    c = conf.n_classes
    names = [str(x) for x in e.labels]
    body = para(
        f"Epoch {e.epoch}: accuracy {pct_fixed(e.accuracy)}, macro F1 {fixed(e.macro.f1)}, "
        f"mean loss {fixed(e.loss)} nats."
    )
    many = c > PLOT_MAX_CLASSES  # no C×C heatmap: the confused pairs as bars
    matrix = figure_html(
        (lambda: plot_top_confusions(e.top_confusions, n_classes=c, accuracy=e.accuracy))
        if many
        else lambda: plot_confusion(e.matrix, names, top_pairs=e.top_confusions),
        figs,
        "most confused pairs" if many else "confusion matrix",
    )
    d = conf.diff
    if d is None:
        return section("Confusion matrix", body + matrix)
    change = figure_html(
        (
            lambda: plot_confusion_changes(
                d.grew,
                d.shrank,
                n_classes=c,
                from_epoch=d.from_epoch,
                to_epoch=d.to_epoch,
                split=conf.name,
            )  # fmt: skip
        )
        if many
        else lambda: plot_confusion_diff(
            d.matrix, names, from_epoch=d.from_epoch, to_epoch=d.to_epoch, split=conf.name
        ),
        figs,
        "confusions that grew and shrank most" if many else "change of the confusion matrix",
    )
    body += f'<div class="grid2">{matrix}{change}</div>'
    if d is not None:
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
