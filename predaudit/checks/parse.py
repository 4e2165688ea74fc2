"""Parsing ``--check`` expressions: ``[SPLIT:]METRIC OP VALUE``.

Grammar::

    [SPLIT:]METRIC OP VALUE
    OP    = < | <= | > | >= | == | !=
    VALUE = a number | a verdict word | baseline.METRIC [(+|-) number]

A bare metric is checked on every split; ``test:accuracy`` only on ``test``.
Verdict words go with verdict metrics (``hypothesis``) and ``==`` / ``!=`` only.

>>> from predaudit.report.analyze import METRICS
>>> c = parse_check("test:accuracy >= baseline.accuracy - 0.01", metrics=METRICS)
>>> (c.split, c.metric, c.op, c.baseline_metric, c.offset)
('test', 'accuracy', '>=', 'accuracy', -0.01)
>>> compare(0.91, ">=", 0.9), compare(None, "<", 0.5), compare(None, "!=", 0.5)
(True, False, True)
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from predaudit.errors import OptionError
from predaudit.report.analyze import METRICS as ANALYZE_METRICS
from predaudit.report.protocol import Metric, Value
from predaudit.report.vocab import VERDICTS

OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
BASELINE_PREFIX = "baseline."


_OP_TOKEN = re.compile(r"[<>=!]+")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_BASELINE = re.compile(
    r"baseline\.(?P<metric>\w+)\s*(?:(?P<sign>[+-])\s*(?P<offset>[^\s]+))?", re.IGNORECASE
)
_OP_HINTS = {"=": "==", "=>": ">=", "=<": "<=", "<>": "!=", "===": "==", "!": "!="}


@dataclass(frozen=True)
class Check:
    """One parsed ``--check`` expression.

    ``value`` is the literal right-hand side (a number or a verdict word) or None
    when the right-hand side is ``baseline.<baseline_metric>`` plus ``offset``.
    """

    expression: str
    split: str | None
    metric: str
    op: str
    value: float | str | None = None
    baseline_metric: str | None = None
    offset: float = 0.0
    rhs: str = ""

    @property
    def uses_baseline(self) -> bool:
        return self.baseline_metric is not None


def _fail(text: str, problem: str, metrics: Mapping[str, Metric]) -> OptionError:
    return OptionError(
        param="check",
        value=repr(text),
        problem=f"{problem}; expected [SPLIT:]METRIC OP VALUE "
        f"(OP: {' '.join(OPS)}; metrics: {', '.join(metrics)})",
    )


def _number(text: str) -> float | None:
    """A finite number written as a decimal literal, else None."""
    if not _NUMBER.fullmatch(text):
        return None
    x = float(text)
    return x if math.isfinite(x) else None


def parse_check(text: str, *, metrics: Mapping[str, Metric] = ANALYZE_METRICS) -> Check:
    """Parse one ``--check`` expression; raise :class:`OptionError` (exit 2) naming the bad part.

    >>> parse_check("hypothesis != supported").value
    'supported'
    >>> parse_check("loss <= 0.5").expression
    'loss <= 0.5'
    """
    raw = " ".join(str(text).split())
    found = list(_OP_TOKEN.finditer(raw))
    if not found:
        raise _fail(raw, "no comparison operator", metrics)
    m = found[0]
    op = m.group()
    if op not in OPS:
        hint = f"; did you mean {_OP_HINTS[op]!r}?" if op in _OP_HINTS else ""
        raise OptionError(
            param="check",
            value=repr(raw),
            problem=f"unknown operator {op!r}{hint} (operators: {' '.join(OPS)})",
        )
    if len(found) > 1:
        raise _fail(raw, f"more than one operator ({op!r} and {found[1].group()!r})", metrics)
    lhs, rhs = raw[: m.start()].strip(), raw[m.end() :].strip()
    if not lhs:
        raise _fail(raw, f"no metric before {op!r}", metrics)
    if not rhs:
        raise _fail(raw, f"no value after {op!r}", metrics)
    split: str | None = None
    if ":" in lhs:
        split, _, lhs = (part.strip() for part in lhs.partition(":"))
        if not split:
            raise _fail(raw, "empty split name before ':'", metrics)
    metric = lhs.lower()
    if metric not in metrics:
        raise OptionError(
            param="check",
            value=repr(raw),
            problem=f"unknown metric {lhs!r}; valid metrics: {', '.join(metrics)}",
        )
    kind = metrics[metric].kind

    value: float | str | None = None
    baseline_metric: str | None = None
    offset = 0.0
    if rhs.lower().startswith(BASELINE_PREFIX):
        bm = _BASELINE.fullmatch(rhs)
        if bm is None:
            raise _fail(raw, f"bad baseline value {rhs!r} (use baseline.METRIC ± NUMBER)", metrics)
        baseline_metric = bm["metric"].lower()
        if baseline_metric not in metrics:
            raise OptionError(
                param="check",
                value=repr(raw),
                problem=f"unknown metric {bm['metric']!r} in {rhs!r}; "
                f"valid metrics: {', '.join(metrics)}",
            )
        if metrics[baseline_metric].kind != kind:
            raise OptionError(
                param="check",
                value=repr(raw),
                problem=f"cannot compare {metric} ({kind}) with "
                f"baseline.{baseline_metric} ({metrics[baseline_metric].kind})",
            )
        if bm["sign"]:
            number = _number(bm["offset"])
            if number is None:
                raise _fail(raw, f"bad offset {bm['offset']!r} (expected a number)", metrics)
            if kind == "verdict":
                raise OptionError(
                    param="check",
                    value=repr(raw),
                    problem=f"a verdict takes no {bm['sign']} offset",
                )
            offset = number if bm["sign"] == "+" else -number
        rhs = f"baseline.{baseline_metric}" + (
            f" {bm['sign']} {bm['offset']}" if bm["sign"] else ""
        )
    elif kind == "verdict":
        if rhs.lower() not in VERDICTS:
            raise OptionError(
                param="check",
                value=repr(raw),
                problem=f"{metric} takes a verdict ({', '.join(VERDICTS)}) or "
                f"baseline.{metric}, not {rhs!r}",
            )
        value = rhs = rhs.lower()
    else:
        value = _number(rhs)
        if value is None and rhs.lower() in VERDICTS:
            raise OptionError(
                param="check",
                value=repr(raw),
                problem=f"{rhs!r} is a verdict, for hypothesis only; "
                f"{metric} takes a number or baseline.METRIC",
            )
        if value is None:
            raise _fail(raw, f"bad value {rhs!r} (a number or baseline.METRIC)", metrics)
    if kind == "verdict" and op not in ("==", "!="):
        raise OptionError(
            param="check",
            value=repr(raw),
            problem=f"{metric} is a verdict: use == or !=, not {op!r}",
        )
    prefix = f"{split}:" if split is not None else ""
    return Check(
        expression=f"{prefix}{metric} {op} {rhs}",
        split=split,
        metric=metric,
        op=op,
        value=value,
        baseline_metric=baseline_metric,
        offset=offset,
        rhs=rhs,
    )


def parse_checks(
    texts: Iterable[str],
    *,
    metrics: Mapping[str, Metric] = ANALYZE_METRICS,
    has_baseline: bool = False,
) -> list[Check]:
    """Parse every expression; a ``baseline.*`` value without ``--baseline`` is an OptionError."""
    checks = [parse_check(t, metrics=metrics) for t in texts]
    for c in checks:
        if c.uses_baseline and not has_baseline:
            raise OptionError(
                param="check",
                value=repr(c.expression),
                problem=f"uses {c.rhs.split()[0]} but no baseline was given",
                cli_problem=f"uses {c.rhs.split()[0]} but no --baseline was given",
            )
    return checks


def compare(value: Value, op: str, threshold: Value) -> bool:
    """``value OP threshold``; None (n/a) on either side compares like NaN (only ``!=`` holds)."""
    if value is None or threshold is None:
        return op == "!="
    return bool(OPS[op](value, threshold))
