"""Evaluating checks on a report's metric values; results as frozen dataclasses."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from predaudit.checks.baseline import Baseline
from predaudit.checks.parse import Check, compare
from predaudit.errors import OptionError
from predaudit.report.protocol import Report, Value


@dataclass(frozen=True)
class CheckResult:
    """One check evaluated on one split.

    ``value`` is the metric on the current run and ``threshold`` the right-hand
    side after baseline lookup and offset (None = n/a). ``baseline_split`` and
    ``baseline_value`` say which baseline value was used (None without one).
    """

    expression: str
    split: str
    metric: str
    value: Value
    op: str
    threshold: Value
    passed: bool
    baseline_split: str | None = None
    baseline_value: Value = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "expression": self.expression,
            "split": self.split,
            "metric": self.metric,
            "value": self.value,
            "op": self.op,
            "threshold": self.threshold,
            "passed": self.passed,
            "baseline_split": self.baseline_split,
            "baseline_value": self.baseline_value,
        }


def evaluate(
    checks: Sequence[Check],
    current: Mapping[str, Mapping[str, Value]],
    *,
    baseline: Baseline | None = None,
    source: str = "the run",
) -> list[CheckResult]:
    """Evaluate ``checks`` on metric values per split (``current[split][metric]``).

    A bare check yields one result per split, in split order; a qualified one a
    single result. An unknown split is an :class:`OptionError` (exit 2) and a
    split the baseline cannot match an :class:`InputError` (exit 3).
    """
    names = list(current)
    for c in checks:
        if c.split is not None and c.split not in current:
            raise OptionError(
                param="check",
                value=repr(c.expression),
                problem=f"no split {c.split!r} in {source} (splits: {', '.join(names)})",
            )
    results = []
    for c in checks:
        for name in [c.split] if c.split is not None else names:
            assert name is not None
            value = current[name][c.metric]
            bsplit: str | None = None
            bvalue: Value = None
            if c.baseline_metric is not None:
                if baseline is None:
                    raise OptionError(
                        param="check",
                        value=repr(c.expression),
                        problem="no baseline was given",
                        cli_problem="no --baseline was given",
                    )
                bsplit = baseline.match(name, current_splits=names)
                bvalue = baseline.splits[bsplit][c.baseline_metric]
                threshold: Value = bvalue
                if isinstance(bvalue, float) and c.offset:
                    threshold = bvalue + c.offset
            else:
                threshold = c.value
            results.append(
                CheckResult(
                    expression=c.expression,
                    split=name,
                    metric=c.metric,
                    value=value,
                    op=c.op,
                    threshold=threshold,
                    passed=compare(value, c.op, threshold),
                    baseline_split=bsplit,
                    baseline_value=bvalue,
                )
            )
    return results


def check_report(
    report: Report, checks: Sequence[Check], *, baseline: Baseline | None = None
) -> list[CheckResult]:
    """Evaluate ``checks`` on a report object (``AnalyzeReport`` or a confusion report)."""
    return evaluate(
        checks,
        report.metrics(),
        baseline=baseline,
        source=str(getattr(report, "run", "the run")),
    )


def all_passed(results: Iterable[CheckResult]) -> bool:
    return all(r.passed for r in results)


@dataclass(frozen=True)
class CheckedReport:
    """A report plus its check results: ``to_dict()`` adds a top-level ``"checks"`` list."""

    report: Any
    checks: list[CheckResult]

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.report.to_dict())
        out["checks"] = [r.to_dict() for r in self.checks]
        return out
