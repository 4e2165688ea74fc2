"""predaudit: why did test loss rise while accuracy stayed flat?

>>> import numpy as np, predaudit
>>> scores = np.array([[[3.0, 0.0], [0.0, 2.0], [1.0, 0.0]], [[4.0, 0.0], [0.0, 1.0], [3.0, 0.0]]])
>>> run = predaudit.from_arrays(scores, np.array([0, 1, 1]))
>>> report = predaudit.analyze(run, start="first")
>>> round(report.splits["default"].comparison.delta_loss, 4)
0.6304

The public names are imported when first used (``predaudit.Recorder`` imports the
recorder, ``predaudit.analyze`` the analyses), so that a command, or a training script
that only records, loads only the parts it needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from predaudit.errors import InputError, OptionError, PredauditError
from predaudit.version import __version__

if TYPE_CHECKING:
    from predaudit.api import analyze, confusion, inspect
    from predaudit.record import Recorder
    from predaudit.store import RunStats, SplitStats
    from predaudit.store.build import from_arrays, load_run

_LAZY = {
    "Recorder": "predaudit.record",
    "RunStats": "predaudit.store",
    "SplitStats": "predaudit.store",
    "analyze": "predaudit.api",
    "confusion": "predaudit.api",
    "from_arrays": "predaudit.store.build",
    "inspect": "predaudit.api",
    "load_run": "predaudit.store.build",
}

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


def __getattr__(name: str) -> Any:
    """A public name (:data:`__all__`) imported on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'predaudit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next use is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
