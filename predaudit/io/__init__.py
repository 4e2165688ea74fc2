"""Reading layer: discover run layouts, one reader per format, id alignment."""

from predaudit.io.discover import RunLayout, SplitLayout, discover
from predaudit.io.load import SplitReader
from predaudit.io.records import EpochPredictions, SplitInfo

__all__ = [
    "EpochPredictions",
    "RunLayout",
    "SplitInfo",
    "SplitLayout",
    "SplitReader",
    "discover",
]
