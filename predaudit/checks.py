"""Pass/fail checks for CI jobs: ``--check 'test:accuracy >= baseline.accuracy - 0.01'``.

Pure library code: it parses check expressions, reads metric values out of a
report (or out of a baseline report written earlier), evaluates the checks and
returns frozen :class:`CheckResult` objects. It never prints and never exits;
the CLI turns a failed check into exit code 1.

Grammar of an expression::

    [SPLIT:]METRIC OP VALUE
    OP    = < | <= | > | >= | == | !=
    VALUE = a number | supported | rejected | not_applicable
          | baseline.METRIC [(+|-) number]

A bare metric is checked on every split; ``test:accuracy`` only on ``test``.
The verdict words go with the metric ``hypothesis`` (and ``==`` / ``!=``) only.

Metric values come from the report's ``to_dict()`` form, so the current run
and a baseline read back from JSON go through the same code.

**n/a values.** A metric that does not exist for a split (``ww_share`` when the
hypothesis is not applicable, ``delta_loss`` with a single epoch, or the same on
the baseline side) is ``None``, shown as ``n/a``. It compares like NaN: every
comparison with it is false except ``!=``, which is true. So ``ww_share < 0.5``
fails when the share is n/a, while ``ww_share != 1`` passes.

>>> c = parse_check("test:accuracy >= baseline.accuracy - 0.01")
>>> (c.split, c.metric, c.op, c.baseline_metric, c.offset)
('test', 'accuracy', '>=', 'accuracy', -0.01)
>>> compare(0.91, ">=", 0.9), compare(None, "<", 0.5), compare(None, "!=", 0.5)
(True, False, True)
"""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from predaudit.errors import InputError, OptionError

Value = float | str | None
"""A metric value: a number, a verdict word, or None (n/a)."""

OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
VERDICTS = ("supported", "rejected", "not_applicable")
BASELINE_PREFIX = "baseline."
ANALYZE_SCHEMA = "predaudit.analyze/1"
CONFUSION_SCHEMA = "predaudit.confusion/1"


@dataclass(frozen=True)
class Metric:
    """A metric a check can test: its name, kind (``number`` or ``verdict``) and meaning."""

    name: str
    kind: str
    description: str


def _metrics(*items: Metric) -> dict[str, Metric]:
    return {m.name: m for m in items}


ANALYZE_METRICS = _metrics(
    Metric("loss", "number", "mean loss (nats) at the compared `to` epoch"),
    Metric("accuracy", "number", "accuracy (0..1) at the compared `to` epoch"),
    Metric("best_loss", "number", "lowest mean loss over all epochs"),
    Metric("best_accuracy", "number", "highest accuracy over all epochs"),
    Metric("delta_loss", "number", "ΔL = loss(to) − loss(from); n/a with one epoch"),
    Metric("delta_accuracy", "number", "accuracy(to) − accuracy(from); n/a with one epoch"),
    Metric(
        "ww_share",
        "number",
        "share of ΔL from samples wrong at both epochs (1.0 = all of it); "
        "n/a when the hypothesis is not_applicable",
    ),
    Metric(
        "hypothesis",
        "verdict",
        "verdict on 'wrong predictions get more wrong': supported, rejected or not_applicable",
    ),
)
"""Metrics of ``predaudit analyze`` checks, in the order of the README table."""

CONFUSION_METRICS = _metrics(
    Metric("accuracy", "number", "accuracy (0..1) at the chosen epoch"),
    Metric("macro_f1", "number", "unweighted mean of the per-class F1 scores"),
    Metric("min_recall", "number", "lowest per-class recall among classes with samples"),
)
"""Metrics of ``predaudit confusion`` checks."""

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
        f"--check {text!r}: {problem}; expected [SPLIT:]METRIC OP VALUE "
        f"(OP: {' '.join(OPS)}; metrics: {', '.join(metrics)})"
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
            f"--check {raw!r}: unknown operator {op!r}{hint} (operators: {' '.join(OPS)})"
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
            f"--check {raw!r}: unknown metric {lhs!r}; valid metrics: {', '.join(metrics)}"
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
                f"--check {raw!r}: unknown metric {bm['metric']!r} in {rhs!r}; "
                f"valid metrics: {', '.join(metrics)}"
            )
        if metrics[baseline_metric].kind != kind:
            raise OptionError(
                f"--check {raw!r}: cannot compare {metric} ({kind}) with "
                f"baseline.{baseline_metric} ({metrics[baseline_metric].kind})"
            )
        if bm["sign"]:
            number = _number(bm["offset"])
            if number is None:
                raise _fail(raw, f"bad offset {bm['offset']!r} (expected a number)", metrics)
            if kind == "verdict":
                raise OptionError(f"--check {raw!r}: a verdict takes no {bm['sign']} offset")
            offset = number if bm["sign"] == "+" else -number
        rhs = f"baseline.{baseline_metric}" + (
            f" {bm['sign']} {bm['offset']}" if bm["sign"] else ""
        )
    elif kind == "verdict":
        if rhs.lower() not in VERDICTS:
            raise OptionError(
                f"--check {raw!r}: {metric} takes a verdict ({', '.join(VERDICTS)}) or "
                f"baseline.{metric}, not {rhs!r}"
            )
        value = rhs = rhs.lower()
    else:
        value = _number(rhs)
        if value is None and rhs.lower() in VERDICTS:
            raise OptionError(
                f"--check {raw!r}: {rhs!r} is a verdict, for hypothesis only; "
                f"{metric} takes a number or baseline.METRIC"
            )
        if value is None:
            raise _fail(raw, f"bad value {rhs!r} (a number or baseline.METRIC)", metrics)
    if kind == "verdict" and op not in ("==", "!="):
        raise OptionError(f"--check {raw!r}: {metric} is a verdict: use == or !=, not {op!r}")
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
                f"--check {c.expression!r}: uses {c.rhs.split()[0]} but no --baseline was given"
            )
    return checks


def compare(value: Value, op: str, threshold: Value) -> bool:
    """``value OP threshold``; None (n/a) on either side compares like NaN (only ``!=`` holds)."""
    if value is None or threshold is None:
        return op == "!="
    return bool(OPS[op](value, threshold))


# -- metric values from a report's to_dict() form -------------------------------------------


class _Malformed(Exception):
    """A report dict lacks a field or has one of the wrong type; the message names it."""


def _get(d: Any, key: str, where: str) -> Any:
    if not isinstance(d, Mapping):
        raise _Malformed(f"{where or 'the report'} is not an object")
    if key not in d:
        raise _Malformed(f"{where}.{key} is missing" if where else f"no {key!r} field")
    return d[key]


def _num(x: Any, where: str, *, nullable: bool = True) -> float | None:
    if x is None and nullable:
        return None
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise _Malformed(f"{where} is not a number")
    x = float(x)
    return x if math.isfinite(x) else None


def analyze_split_metrics(split: Mapping[str, Any], *, where: str = "split") -> dict[str, Value]:
    """The values of :data:`ANALYZE_METRICS` for one split of a ``predaudit.analyze/1`` dict.

    ``split`` is ``report.to_dict()["splits"][name]``. ``loss`` and ``accuracy``
    are taken at the compared ``to`` epoch (the last epoch when there is no
    comparison); ``best_*`` over every epoch; ``hypothesis`` is ``not_applicable``
    when there is nothing to compare. Raises ``_Malformed`` naming a bad field.
    """
    rows = _get(split, "per_epoch", where)
    if not isinstance(rows, list) or not rows:
        raise _Malformed(f"{where}.per_epoch is not a non-empty list")
    losses: dict[int, float | None] = {}
    accs: dict[int, float | None] = {}
    for i, row in enumerate(rows):
        w = f"{where}.per_epoch[{i}]"
        epoch = _get(row, "epoch", w)
        losses[epoch] = _num(_get(row, "loss", w), f"{w}.loss")
        accs[epoch] = _num(_get(row, "accuracy", w), f"{w}.accuracy")
    comparison = _get(split, "comparison", where)
    hypothesis = _get(split, "hypothesis", where)
    to = list(losses)[-1]
    delta_loss = delta_accuracy = share = None
    verdict = "not_applicable"
    if comparison is not None:
        w = f"{where}.comparison"
        to = _get(comparison, "to", w)
        if to not in losses:
            raise _Malformed(f"{w}.to is {to!r}, not an epoch of per_epoch")
        delta_loss = _num(_get(comparison, "delta_loss", w), f"{w}.delta_loss")
        delta_accuracy = _num(_get(comparison, "delta_accuracy", w), f"{w}.delta_accuracy")
    if hypothesis is not None:
        w = f"{where}.hypothesis"
        verdict = _get(hypothesis, "verdict", w)
        if verdict not in VERDICTS:
            raise _Malformed(f"{w}.verdict is {verdict!r}, not one of {', '.join(VERDICTS)}")
        share = _num(_get(hypothesis, "share", w), f"{w}.share")
        if verdict == "not_applicable":
            share = None
    finite_l = [x for x in losses.values() if x is not None]
    finite_a = [x for x in accs.values() if x is not None]
    return {
        "loss": losses[to],
        "accuracy": accs[to],
        "best_loss": min(finite_l) if finite_l else None,
        "best_accuracy": max(finite_a) if finite_a else None,
        "delta_loss": delta_loss,
        "delta_accuracy": delta_accuracy,
        "ww_share": share,
        "hypothesis": verdict,
    }


def confusion_metrics(split: Mapping[str, Any], *, where: str = "") -> dict[str, Value]:
    """The values of :data:`CONFUSION_METRICS` for one split of a ``predaudit.confusion/1`` dict.

    ``min_recall`` is over the classes with at least one true sample (a class
    that never occurs has no recall to speak of); n/a when there is none.
    """
    dot = f"{where}." if where else ""
    macro = _get(split, "macro", where)
    per_class = _get(split, "per_class", where)
    if not isinstance(per_class, list):
        raise _Malformed(f"{dot}per_class is not a list")
    recalls = []
    for i, row in enumerate(per_class):
        w = f"{dot}per_class[{i}]"
        if _num(_get(row, "support", w), f"{w}.support", nullable=False):
            recalls.append(_num(_get(row, "recall", w), f"{w}.recall", nullable=False))
    return {
        "accuracy": _num(_get(split, "accuracy", where), f"{dot}accuracy"),
        "macro_f1": _num(_get(macro, "f1", f"{dot}macro"), f"{dot}macro.f1"),
        "min_recall": min(recalls) if recalls else None,
    }


def report_metrics(report: Mapping[str, Any]) -> dict[str, dict[str, Value]]:
    """Metric values per split of a report dict (``predaudit.analyze/1`` or ``confusion/1``).

    Raises ``_Malformed`` naming the first bad field.
    """
    schema = _get(report, "schema", "")
    if schema == ANALYZE_SCHEMA:
        splits = _get(report, "splits", "")
        if not isinstance(splits, Mapping) or not splits:
            raise _Malformed("splits is not a non-empty object")
        return {
            str(name): analyze_split_metrics(s, where=f"splits.{name}")
            for name, s in splits.items()
        }
    if schema == CONFUSION_SCHEMA:
        if "splits" not in report:  # one split: its fields at the top level
            return {str(_get(report, "split", "")): confusion_metrics(report)}
        splits = _get(report, "splits", "")
        if not isinstance(splits, Mapping) or not splits:
            raise _Malformed("splits is not a non-empty object")
        return {
            str(name): confusion_metrics(s, where=f"splits.{name}") for name, s in splits.items()
        }
    raise _Malformed(f"unknown schema {schema!r}")


# -- baselines -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Baseline:
    """Metric values per split of a report written earlier (``--baseline report.json``)."""

    path: str
    schema: str
    splits: dict[str, dict[str, Value]]

    def match(self, split: str, *, current_splits: Sequence[str]) -> str:
        """The baseline split compared with the current ``split``.

        By name; or, when both reports have exactly one split, that one whatever
        its name. Raises :class:`InputError` naming the baseline file otherwise.
        """
        if split in self.splits:
            return split
        if len(self.splits) == 1 and len(current_splits) == 1:
            return next(iter(self.splits))
        raise InputError(
            self.path,
            f"baseline has no split {split!r} to compare with "
            f"(its splits: {', '.join(self.splits)})",
        )


def load_baseline(path: str | Path, *, schema: str = ANALYZE_SCHEMA) -> Baseline:
    """Read a JSON report written by predaudit; raise :class:`InputError` naming the file.

    ``path`` may also be a folder written by ``--out``, holding ``report.json``.
    """
    p = Path(path)
    shown = str(path)
    if p.is_dir() and (p / "report.json").is_file():
        p = p / "report.json"
        shown = str(p)
    if not p.exists():
        raise InputError(shown, "does not exist")
    if p.is_dir():
        raise InputError(shown, "is a folder without report.json; expected a JSON report")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(shown, "not valid JSON (not UTF-8 text)") from None
    except OSError as exc:
        raise InputError(shown, exc.strerror or str(exc)) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            shown, f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise InputError(shown, "not valid JSON (nested too deeply)") from None
    found = data.get("schema") if isinstance(data, dict) else None
    if not isinstance(found, str) or not found.startswith("predaudit."):
        raise InputError(
            shown, f'not a predaudit report (expected a JSON object with "schema": "{schema}")'
        )
    if found != schema:
        raise InputError(shown, f"is a {found} report; expected {schema}")
    try:
        splits = report_metrics(data)
    except _Malformed as exc:
        raise InputError(shown, f"not a valid {schema} report: {exc}") from None
    return Baseline(path=shown, schema=schema, splits=splits)


# -- evaluation ----------------------------------------------------------------------------


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

    def to_dict(self) -> dict:
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
                f"--check {c.expression!r}: no split {c.split!r} in {source} "
                f"(splits: {', '.join(names)})"
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
                    raise OptionError(f"--check {c.expression!r}: no --baseline was given")
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
    report: Any, checks: Sequence[Check], *, baseline: Baseline | None = None
) -> list[CheckResult]:
    """Evaluate ``checks`` on a report object (``AnalyzeReport`` or a confusion report)."""
    return evaluate(
        checks,
        report_metrics(report.to_dict()),
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

    def to_dict(self) -> dict:
        out = dict(self.report.to_dict())
        out["checks"] = [r.to_dict() for r in self.checks]
        return out
