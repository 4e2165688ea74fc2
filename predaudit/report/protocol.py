"""What every report object offers: a schema id, ``to_dict()`` and its ``--check`` metrics."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

Value = float | str | None
"""A metric value: a number, a verdict word, or None (n/a)."""

MetricKind = Literal["number", "verdict"]


@dataclass(frozen=True)
class Metric:
    """A value ``--check`` can test: its name, kind and meaning."""

    name: str
    kind: MetricKind
    description: str


def metric_table(*items: Metric) -> dict[str, Metric]:
    """The metrics by name, in the given order."""
    return {m.name: m for m in items}


class MalformedReport(Exception):
    """A report dict lacks a field or has one of the wrong type; the message names it."""


class Report(Protocol):
    """A report of one command over every split of a run."""

    SCHEMA: ClassVar[str]
    METRICS: ClassVar[Mapping[str, Metric]]
    run: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (schema ``SCHEMA``)."""
        ...

    def metrics(self) -> dict[str, dict[str, Value]]:
        """The values of ``METRICS`` per split."""
        ...


class SplitsReport:
    """What every report shares: the JSON form ``{"schema", "run", "splits"}`` and its
    ``--check`` metrics, read from that form (so a baseline read back gives the same values).

    Subclasses are frozen dataclasses with ``run`` and ``splits`` that set ``SCHEMA``,
    ``METRICS`` and ``SPLIT_METRICS`` (or override ``metrics_from_dict``).
    """

    SCHEMA: ClassVar[str]
    SPLIT_METRICS: ClassVar[Callable[..., dict[str, Value]] | None] = None
    """The values of ``METRICS`` for one split of the JSON form,
    ``split_metrics(split, where="splits.NAME")``; set after the module defines it."""
    run: str
    splits: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return splits_dict(self.SCHEMA, self.run, self.splits)

    def metrics(self) -> dict[str, dict[str, Value]]:
        """The values of ``METRICS`` per split."""
        return self.metrics_from_dict(self.to_dict())

    @classmethod
    def metrics_from_dict(cls, report: Mapping[str, Any]) -> dict[str, dict[str, Value]]:
        """The metric values per split of a dict of this report's schema (a baseline read
        back). Raises :class:`MalformedReport` naming the first bad field."""
        if cls.SPLIT_METRICS is None:
            raise NotImplementedError(f"{cls.__name__} sets no SPLIT_METRICS")
        return metrics_per_split(report, cls.SPLIT_METRICS)


def get_field(d: Any, key: str, where: str) -> Any:
    """``d[key]``; raise :class:`MalformedReport` naming ``where.key`` when ``d`` lacks it."""
    if not isinstance(d, Mapping):
        raise MalformedReport(f"{where or 'the report'} is not an object")
    if key not in d:
        raise MalformedReport(f"{where}.{key} is missing" if where else f"no {key!r} field")
    return d[key]


def splits_dict(schema: str, run: str, splits: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON form every report shares: ``{"schema", "run", "splits": {name: split}}``,
    each split by its ``to_dict()``."""
    return {"schema": schema, "run": run, "splits": {k: v.to_dict() for k, v in splits.items()}}


def metrics_per_split(
    report: Mapping[str, Any], split_metrics: Callable[..., dict[str, Value]]
) -> dict[str, dict[str, Value]]:
    """``split_metrics(split, where="splits.NAME")`` for each split of a report dict (a
    baseline read back). Raises :class:`MalformedReport` naming the first bad field."""
    splits = get_field(report, "splits", "")
    if not isinstance(splits, Mapping) or not splits:
        raise MalformedReport("splits is not a non-empty object")
    return {str(name): split_metrics(s, where=f"splits.{name}") for name, s in splits.items()}


def number_field(x: Any, where: str, *, nullable: bool = True) -> float | None:
    """``x`` as a float (None when null or not finite); raise :class:`MalformedReport` otherwise."""
    if x is None and nullable:
        return None
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise MalformedReport(f"{where} is not a number")
    x = float(x)
    return x if math.isfinite(x) else None
