"""The numerical core of ``predaudit calibration``: array functions, no I/O, numpy only.

Two layers, as in the rest of predaudit:

* per-sample vectors of one epoch (``[N]``): binned calibration errors and
  their table (:mod:`.binning`), the ECE noise floor, smooth ECE
  (:mod:`.smooth`), and the split of a loss rise (:mod:`.split`);
* row chunks of scores ``[n, C]`` inside the reduction: temperature scaling
  fitted in passes (:mod:`.temperature`) and per-sample loss, Brier score and
  probabilities at a temperature (:mod:`.scores`).
"""

from predaudit.calibration.binning import (
    CalibrationBins,
    CalibrationErrors,
    NoiseFloor,
    bin_index,
    binary_top_label,
    calibration_bins,
    calibration_errors,
    ece_noise_floor,
    errors_from_bins,
    quantile_edges,
    uniform_bin_index,
)
from predaudit.calibration.scores import (
    base_scores,
    brier_score,
    loss_at_temperature,
    scaled_probabilities,
)
from predaudit.calibration.smooth import (
    SmoothCurve,
    SmoothECE,
    smooth_ece,
    smooth_ece_at,
    smooth_reliability,
)
from predaudit.calibration.split import SplitCell, TemperatureSplit, temperature_split
from predaudit.calibration.temperature import (
    TemperatureFit,
    TemperatureSums,
    fit_temperature,
    fit_temperature_array,
    temperature_sums,
)

__all__ = [
    "CalibrationBins",
    "CalibrationErrors",
    "NoiseFloor",
    "SmoothCurve",
    "SmoothECE",
    "SplitCell",
    "TemperatureFit",
    "TemperatureSplit",
    "TemperatureSums",
    "base_scores",
    "bin_index",
    "binary_top_label",
    "brier_score",
    "calibration_bins",
    "calibration_errors",
    "ece_noise_floor",
    "errors_from_bins",
    "fit_temperature",
    "fit_temperature_array",
    "loss_at_temperature",
    "quantile_edges",
    "scaled_probabilities",
    "smooth_ece",
    "smooth_ece_at",
    "smooth_reliability",
    "temperature_split",
    "temperature_sums",
    "uniform_bin_index",
]
