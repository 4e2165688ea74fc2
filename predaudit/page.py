"""The data of ``predaudit report``: every analysis of a run, computed once per split.

:func:`build_page` takes a run loaded with ``calibration=True`` (the columns both
``analyze`` and ``calibration`` need) and returns a :class:`ReportPage`: per split
the ``analyze`` result, the calibration and the confusion matrix (with its change)
over the same two epochs as ``analyze``'s comparison, and — when the registry has a
``dynamics`` command — the training dynamics (data map, regions). The page's
dataclasses are in :mod:`predaudit.report.page`; :mod:`predaudit.render.html` turns
it into HTML; nothing here prints or writes.
"""

from __future__ import annotations

from typing import Any

from predaudit.errors import PredauditError
from predaudit.registry import COMMANDS
from predaudit.report.analyze import AnalyzeReport
from predaudit.report.page import ReportPage, SplitPage
from predaudit.store import RunStats


def _one_split(run: RunStats, name: str) -> RunStats:
    return RunStats(path=run.path, splits={name: run.splits[name]})


def build_page(
    run: RunStats,
    *,
    start: str | int | None = None,
    end: str | int | None = None,
    alpha: float = 0.05,
    top: int = 10,
) -> tuple[ReportPage, Any]:
    """Every analysis of ``run`` for the page, and the ``analyze`` report
    (:class:`~predaudit.report.analyze.AnalyzeReport`, for ``--check``).

    ``start``/``end`` are resolved by ``analyze`` for each split; calibration and
    the confusion change then use that split's resolved epochs, so every section
    compares the same two epochs. A part that cannot be computed for a split (no
    calibration columns, samples not aligned for dynamics) is left out with a note.
    """
    analyze = COMMANDS["analyze"].analyze()
    report: AnalyzeReport = analyze(run, start=start, end=end, alpha=alpha, top=top)
    splits = {name: _split_page(run, split, top) for name, split in report.splits.items()}
    return ReportPage(run=run.path, title="predaudit report", splits=splits), report


def _split_page(run: RunStats, split: Any, top: int) -> SplitPage:
    """The parts of one split's page, over the epochs ``analyze`` compared."""
    name = split.name
    one = _one_split(run, name)
    notes: dict[str, str] = {}
    c = split.comparison
    diff = (c.from_epoch, c.to_epoch) if c is not None else None
    start, end = diff if diff is not None else (None, None)
    cal = _part(notes, "calibration", lambda: COMMANDS["calibration"].analyze()(
        one, start=start, end=end))  # fmt: skip
    conf = _part(notes, "confusion", lambda: COMMANDS["confusion"].analyze()(
        one, epoch="last", diff=diff, top=10))  # fmt: skip
    dyn = None
    if "dynamics" in COMMANDS:
        dyn = _part(notes, "dynamics", lambda: COMMANDS["dynamics"].analyze()(one, top=top))
    return SplitPage(
        name=name,
        analysis=split,
        calibration=cal.splits[name] if cal is not None else None,
        confusion=conf.splits[name] if conf is not None else None,
        dynamics=dyn.splits[name] if dyn is not None else None,
        notes=notes,
    )


def _part(notes: dict[str, str], key: str, compute: Any) -> Any:
    """``compute()``, or None with ``notes[key]`` set to why it failed (an input or option
    error of that analysis: the rest of the page is still worth having)."""
    try:
        return compute()
    except PredauditError as exc:
        notes[key] = " ".join(str(exc).split())
        return None
