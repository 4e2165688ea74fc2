"""predaudit: why did test loss rise while accuracy stayed flat?

>>> import numpy as np, predaudit
>>> scores = np.array([[[3.0, 0.0], [0.0, 2.0], [1.0, 0.0]], [[4.0, 0.0], [0.0, 1.0], [3.0, 0.0]]])
>>> run = predaudit.from_arrays(scores, np.array([0, 1, 1]))
>>> report = predaudit.analyze(run, start="first")
>>> round(report.splits["default"].comparison.delta_loss, 4)
0.6304
"""

from predaudit.api import analyze, confusion, inspect
from predaudit.errors import InputError, OptionError, PredauditError
from predaudit.record import Recorder
from predaudit.store import RunStats, SplitStats
from predaudit.store.build import from_arrays, load_run
from predaudit.version import __version__

__all__ = [
    "InputError",
    "OptionError",
    "PredauditError",
    "Recorder",
    "RunStats",
    "SplitStats",
    "__version__",
    "analyze",
    "confusion",
    "from_arrays",
    "inspect",
    "load_run",
]
