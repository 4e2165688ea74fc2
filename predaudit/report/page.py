"""The page of ``predaudit report``: what it shows per split, built from the other reports.

A :class:`ReportPage` holds, per split, the report objects of the analyses the
page shows (any of them None when not available, with a note saying why);
:func:`predaudit.page.build_page` computes them for a run and
:func:`page_of_report` wraps one command's report (``--format html``). It has no
JSON form and so no schema: the page is HTML only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from predaudit.report.analyze import SplitAnalysis
from predaudit.report.calibration import SplitCalibration
from predaudit.report.confusion import SplitConfusion
from predaudit.report.vocab import (
    ANALYZE_SCHEMA,
    CALIBRATION_SCHEMA,
    CONFUSION_SCHEMA,
    DYNAMICS_SCHEMA,
    INSPECT_SCHEMA,
)


@dataclass(frozen=True)
class SplitPage:
    """What the page shows for one split; a part is None when it is not available.

    ``notes`` says, per part name, why a part is missing (``"dynamics": "..."``).
    """

    name: str
    analysis: SplitAnalysis | None = None
    calibration: SplitCalibration | None = None
    confusion: SplitConfusion | None = None
    dynamics: Any | None = None
    inspection: Any | None = None
    notes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportPage:
    """The page of one run: its splits in order, and the check results (if any)."""

    run: str
    title: str
    splits: dict[str, SplitPage]
    checks: list[Any] = field(default_factory=list)


PART_OF_SCHEMA = {
    ANALYZE_SCHEMA: "analysis",
    CALIBRATION_SCHEMA: "calibration",
    CONFUSION_SCHEMA: "confusion",
    DYNAMICS_SCHEMA: "dynamics",
    INSPECT_SCHEMA: "inspection",
}
"""Which part of a :class:`SplitPage` each command's split report is."""


def page_of_report(report: Any, title: str) -> ReportPage:
    """A page with the sections one command's report has (``--format html`` of any command)."""
    attr = PART_OF_SCHEMA[report.SCHEMA]
    splits = {name: SplitPage(name=name, **{attr: s}) for name, s in report.splits.items()}
    return ReportPage(run=report.run, title=title, splits=splits)
