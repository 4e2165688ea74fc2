"""The registry: one entry per analysis, and everything that is driven from it.

An entry names, as import paths so that nothing heavy is imported before it is
needed, the analysis function (``RunStats`` in, report out), the report class
(``SCHEMA``, ``to_dict()``, ``metrics()``, ``metrics_from_dict()``), the
renderers of each ``--format``, and what ``--out`` writes (data files and
figures). ``--check`` metrics, baselines, the ``--out`` bundle and the CLI
commands all look here; adding an analysis is one more entry.

>>> by_name("analyze").schema
'predaudit.analyze/1'
>>> by_schema("predaudit.confusion/1").name
'confusion'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from predaudit.report.vocab import (
    ANALYZE_SCHEMA,
    CALIBRATION_SCHEMA,
    CONFUSION_SCHEMA,
    DYNAMICS_SCHEMA,
    INSPECT_SCHEMA,
)

HTML_RENDERER = "predaudit.render.html_lazy:render_html"
"""Every command's ``--format html``: one page builder, whatever the report (its code
imported only when a page is made)."""


def load_object(path: str) -> Any:
    """The object at ``"package.module:name"``."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Command:
    """One analysis, its report and its outputs.

    ``analysis`` is called as ``analysis(run, **options)``; ``renderers`` maps
    each output format to ``render(report, **render_options)``; ``files`` (or
    None) returns the data files of ``--out`` as ``(relative path, text)``;
    ``figures`` (or None) writes the figures into an output folder and returns
    their paths; ``json_name`` is the name of the JSON report in ``--out``;
    ``load_calibration`` says the run must be loaded with ``calibration=True``
    (per-epoch temperatures, loss at them and Brier score).
    """

    name: str
    schema: str
    summary: str
    analysis: str
    report: str
    renderers: str
    json_name: str | None = None
    files: str | None = None
    figures: str | None = None
    load_calibration: bool = False

    def report_class(self) -> Any:
        return load_object(self.report)

    def analyze(self) -> Callable[..., Any]:
        fn: Callable[..., Any] = load_object(self.analysis)
        return fn

    def renderer_table(self) -> Mapping[Any, Callable[..., Any]]:
        """The renderer of each ``--format``; a table without ``html`` gets the page of
        :func:`predaudit.render.html.render_html` (the sections its report has)."""
        from predaudit.render import OutputFormat

        table: dict[Any, Callable[..., Any]] = dict(load_object(self.renderers))
        table.setdefault(OutputFormat.HTML, load_object(HTML_RENDERER))
        return table

    @property
    def metrics(self) -> Mapping[str, Any]:
        """The ``--check`` metrics: name -> :class:`~predaudit.report.protocol.Metric`."""
        metrics: Mapping[str, Any] = self.report_class().METRICS
        return metrics


COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        Command(
            name="inspect",
            schema=INSPECT_SCHEMA,
            summary="what predaudit finds in a run",
            analysis="predaudit.analysis.inspect:inspect_run",
            report="predaudit.report.inspect:InspectReport",
            renderers="predaudit.render.inspect:RENDERERS",
        ),
        Command(
            name="analyze",
            schema=ANALYZE_SCHEMA,
            summary="the loss split and the verdict on 'wrong predictions get more wrong'",
            analysis="predaudit.analysis.analyze:analyze_run",
            report="predaudit.report.analyze:AnalyzeReport",
            renderers="predaudit.render.analyze:RENDERERS",
            json_name="report.json",
            files="predaudit.render.analyze:bundle_files",
            figures="predaudit.plots:analyze_figures_for",
        ),
        Command(
            name="confusion",
            schema=CONFUSION_SCHEMA,
            summary="confusion matrix, per-class metrics and loss, and their change",
            analysis="predaudit.analysis.confusion:confusion_report",
            report="predaudit.report.confusion:ConfusionReport",
            renderers="predaudit.render.confusion:RENDERERS",
            json_name="confusion.json",
            files="predaudit.render.confusion:bundle_files",
            figures="predaudit.plots:confusion_figures_for",
        ),
        Command(
            name="calibration",
            schema=CALIBRATION_SCHEMA,
            summary="calibration per epoch, and how much of a loss rise a temperature undoes",
            analysis="predaudit.analysis.calibration:calibration_run",
            report="predaudit.report.calibration:CalibrationReport",
            renderers="predaudit.render.calibration:RENDERERS",
            json_name="calibration.json",
            files="predaudit.render.calibration:bundle_files",
            figures="predaudit.plots.calibration:calibration_figures_for",
            load_calibration=True,
        ),
        Command(
            name="dynamics",
            schema=DYNAMICS_SCHEMA,
            summary="per-sample training dynamics: data map, forgetting, likely label problems",
            analysis="predaudit.analysis.dynamics:dynamics_report",
            report="predaudit.report.dynamics:DynamicsReport",
            renderers="predaudit.render.dynamics:RENDERERS",
            json_name="dynamics.json",
            files="predaudit.render.dynamics_files:bundle_files",
            figures="predaudit.plots.dynamics:dynamics_figures_for",
            load_calibration=True,
        ),
    )
}
"""Every analysis, by command name."""


def by_name(name: str) -> Command:
    return COMMANDS[name]


def by_schema(schema: str) -> Command | None:
    """The entry whose report has this schema id, or None."""
    return next((c for c in COMMANDS.values() if c.schema == schema), None)
