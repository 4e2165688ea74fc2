"""predaudit: why did test loss rise while accuracy stayed flat?

>>> import predaudit
>>> run = predaudit.load_run("sample_data/stacked")  # doctest: +SKIP
"""

from predaudit.errors import InputError, OptionError, PredauditError
from predaudit.stats import RunStats, SplitStats, load_run

__version__ = "0.1.0"

__all__ = [
    "InputError",
    "OptionError",
    "PredauditError",
    "RunStats",
    "SplitStats",
    "__version__",
    "load_run",
]
