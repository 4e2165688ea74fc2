"""The temperature part of an ``analyze`` comparison, and its ``--check`` metrics.

At the two compared epochs ``predaudit analyze`` fits one temperature ``T*`` each
(as ``predaudit calibration`` does at every epoch) and splits the change in loss
``ΔL = ΔL_T + ΔG`` into the change at the fitted temperatures and the change of the
calibration gap ``G = L − L_T``; ``temperature_share = ΔG / ΔL`` is the part of a rise
a single temperature would undo.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from predaudit.report.protocol import MalformedReport, Metric, Value, get_field, number_field


@dataclass(frozen=True)
class TemperatureComparison:
    """``T*`` at both compared epochs, the mean loss at it (nats) and the split of ΔL.

    Over the samples that count at both epochs when they are aligned (as the cells),
    otherwise the differences of the per-epoch means. ``temperature_share`` is None
    unless the loss rose. ``status_from`` / ``status_to``: how each fit ended (a
    ``predaudit.store.stats.FIT_STATUS`` code: ``"upper_bound"`` when ``T*`` is the top of
    its range, say).
    """

    temperature_from: float
    temperature_to: float
    loss_at_temperature_from: float
    loss_at_temperature_to: float
    delta_loss_at_temperature: float
    delta_calibration_gap: float
    temperature_share: float | None
    fitted_on: str
    status_from: str = "converged"
    status_to: str = "converged"

    def to_dict(self) -> dict[str, Any]:
        return {
            "temperature_from": self.temperature_from,
            "temperature_to": self.temperature_to,
            "loss_at_temperature_from": self.loss_at_temperature_from,
            "loss_at_temperature_to": self.loss_at_temperature_to,
            "delta_loss_at_temperature": self.delta_loss_at_temperature,
            "delta_calibration_gap": self.delta_calibration_gap,
            "temperature_share": self.temperature_share,
            "fitted_on": self.fitted_on,
            "temperature_status_from": self.status_from,
            "temperature_status_to": self.status_to,
        }


TEMPERATURE_METRICS = (
    Metric(
        "temperature_share",
        "number",
        "share of the rise in loss a single temperature would undo (ΔG / ΔL); "
        "n/a unless the loss rose, and with --no-temperature",
    ),
    Metric(
        "ece",
        "number",
        "top-label ECE (15 equal-width bins) at the compared `to` epoch; n/a with one epoch",
    ),
    Metric(
        "temperature",
        "number",
        "fitted temperature T* at the compared `to` epoch; n/a with --no-temperature",
    ),
)
"""The metrics of the temperature part, in the order of the README table."""


def temperature_metrics(comparison: Mapping[str, Any] | None, where: str) -> dict[str, Value]:
    """``temperature_share``, ``ece`` and ``temperature`` of a comparison dict (or None).

    A report written before these fields existed (a baseline) gives None for them.
    """
    out: dict[str, Value] = {"temperature_share": None, "ece": None, "temperature": None}
    if comparison is None:
        return out
    if "ece_to" in comparison:
        out["ece"] = number_field(comparison["ece_to"], f"{where}.ece_to")
    t = comparison.get("temperature")
    if t is None:
        return out
    w = f"{where}.temperature"
    if not isinstance(t, Mapping):
        raise MalformedReport(f"{w} is not an object")
    out["temperature_share"] = number_field(
        get_field(t, "temperature_share", w), f"{w}.temperature_share"
    )
    out["temperature"] = number_field(get_field(t, "temperature_to", w), f"{w}.temperature_to")
    return out
