"""Where the wrong → wrong samples of ``analyze``'s comparison fall on the data map.

The link between the two commands: ``predaudit analyze`` counts its comparison's
wrong → wrong samples (wrong at both compared epochs) per data-map region
(:class:`WrongToWrongRegions`, JSON ``comparison.wrong_to_wrong_regions``), and
``predaudit dynamics`` lists them with their region (:class:`WrongToWrongSamples`,
JSON ``wrong_to_wrong``), over the epochs ``analyze`` compares by default. Both take
the regions from the same data map (:func:`predaudit.analysis.dynamics.data_map`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from predaudit.report.protocol import MalformedReport, Metric, Value, get_field, number_field
from predaudit.report.vocab import FromReason

WRONG_TO_WRONG_CSV = "wrong_to_wrong.csv"
"""Where ``dynamics --out`` lists the wrong → wrong samples (every one of them)."""
WRONG_TO_WRONG_COLUMNS = ("id", "label", "region", "confidence", "variability")
"""The columns of :data:`WRONG_TO_WRONG_CSV` and of each ``wrong_to_wrong.samples`` entry."""
HARD = "hard-to-learn"

SampleId = int | float | str


@dataclass(frozen=True)
class WrongToWrongRegions:
    """The wrong → wrong samples of a comparison, counted per data-map region.

    ``regions`` has every region (``easy-to-learn``, ``ambiguous``, ``hard-to-learn``,
    ``other``) and sums to ``n - not_in_map``; ``not_in_map`` counts the samples left
    out of the data map (label -100 at some epoch of ``data_map_epochs`` other than the
    compared two). ``data_map_epochs`` are the first and last epoch the map was built
    over, ``n_epochs`` their number.
    """

    n: int
    regions: dict[str, int]
    not_in_map: int
    data_map_epochs: tuple[int, int]
    n_epochs: int

    @property
    def hard_fraction(self) -> float | None:
        """Share of the wrong → wrong samples that are hard-to-learn; None when there are none."""
        return self.regions[HARD] / self.n if self.n else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "regions": dict(self.regions),
            "not_in_map": self.not_in_map,
            "hard_fraction": self.hard_fraction,
            "data_map_epochs": list(self.data_map_epochs),
            "n_epochs": self.n_epochs,
        }


@dataclass(frozen=True)
class WrongToWrongSample:
    """One wrong → wrong sample; ``region`` (and its coordinates) None when not in the map."""

    id: SampleId
    label: int
    region: str | None
    confidence: float | None
    variability: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "region": self.region,
            "confidence": self.confidence,
            "variability": self.variability,
        }


@dataclass(frozen=True)
class WrongToWrongSamples:
    """``analyze``'s wrong → wrong samples over its default epochs, with their region.

    ``samples`` are ordered lowest confidence first (ties: canonical row order), the
    samples not in the map last. ``listed`` is False when there are more than
    ``limit`` of them: the JSON then points to :data:`WRONG_TO_WRONG_CSV`.
    """

    from_epoch: int
    to_epoch: int
    from_reason: FromReason
    counts: WrongToWrongRegions
    samples: list[WrongToWrongSample]
    limit: int

    @property
    def listed(self) -> bool:
        return len(self.samples) <= self.limit

    def to_dict(self) -> dict[str, Any]:
        counts = self.counts.to_dict()
        del counts["data_map_epochs"], counts["n_epochs"]  # the split's epochs
        return {
            "from": self.from_epoch,
            "to": self.to_epoch,
            "from_reason": self.from_reason,
            **counts,
            "samples": [s.to_dict() for s in self.samples] if self.listed else None,
            "samples_csv": None if self.listed else WRONG_TO_WRONG_CSV,
        }


WW_HARD_FRACTION = Metric(
    "ww_hard_fraction",
    "number",
    "share of the samples wrong at both compared epochs that are hard-to-learn on the data map "
    "(predaudit dynamics, every epoch); n/a when there are none, or no data map",
)
"""The ``--check`` metric of analyze's ``comparison.wrong_to_wrong_regions``."""


def ww_hard_fraction(comparison: Mapping[str, Any] | None, where: str) -> Value:
    """``wrong_to_wrong_regions.hard_fraction`` of a comparison dict (or None).

    A report written before the field existed (a baseline) gives None.
    """
    if comparison is None or comparison.get("wrong_to_wrong_regions") is None:
        return None
    regions = comparison["wrong_to_wrong_regions"]
    w = f"{where}.wrong_to_wrong_regions"
    if not isinstance(regions, Mapping):
        raise MalformedReport(f"{w} is not an object")
    return number_field(get_field(regions, "hard_fraction", w), f"{w}.hard_fraction")
