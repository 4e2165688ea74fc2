"""The library's entry points: a run in, report objects out. They never print or exit.

>>> import predaudit
>>> run = predaudit.load_run("sample_data/stacked", split="test")
>>> report = predaudit.analyze(run)
>>> report.splits["test"].hypothesis.verdict
'supported'
>>> predaudit.confusion(run, epoch="last").splits["test"].epoch.accuracy > 0.9
True
>>> predaudit.inspect(run).splits["test"].n_samples
450
"""

from __future__ import annotations

from collections.abc import Sequence

from predaudit.analysis.analyze import analyze_run
from predaudit.analysis.confusion import confusion_report
from predaudit.analysis.inspect import inspect_run
from predaudit.report.analyze import AnalyzeReport
from predaudit.report.confusion import ConfusionReport, Normalize
from predaudit.report.inspect import InspectReport
from predaudit.store import RunStats


def analyze(
    run: RunStats,
    *,
    start: str | int | None = None,
    end: str | int | None = None,
    alpha: float = 0.05,
    top: int = 0,
    temperature: bool = True,
) -> AnalyzeReport:
    """Split the change in mean loss (nats) from ``start`` to ``end`` and judge the hypothesis.

    ``start``/``end`` are epoch labels or ``"first"``, ``"best"``, ``"last"``
    (defaults: the epoch of lowest loss up to ``end``, and the last epoch);
    ``alpha`` is the significance level of the one-sided Wilcoxon test and ``top``
    how many samples whose loss rose most to list. ``temperature`` fits a temperature
    at both compared epochs (reading them again, unless the run came from
    ``from_arrays``) for the share of the rise it would undo; False skips it.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha={alpha}: must be between 0 and 1 (exclusive)")
    if top < 0:
        raise ValueError(f"top={top}: must be 0 or more")
    return analyze_run(run, start=start, end=end, alpha=alpha, top=top, temperature=temperature)


def confusion(
    run: RunStats,
    *,
    epoch: str | int = "last",
    diff: tuple[str | int, str | int] | None = None,
    normalize: Normalize = "none",
    class_names: Sequence[str] | None = None,
    top: int = 10,
) -> ConfusionReport:
    """Confusion matrix, per-class metrics and loss at ``epoch``, or their change over ``diff``."""
    if top < 0:
        raise ValueError(f"top={top}: must be 0 or more")
    names = list(class_names) if class_names is not None else None
    return confusion_report(
        run, epoch=epoch, diff=diff, normalize=normalize, class_names=names, top=top
    )


def inspect(run: RunStats) -> InspectReport:
    """What the run holds: splits, epochs, sizes, score kind, labels, ids and files."""
    return inspect_run(run)
