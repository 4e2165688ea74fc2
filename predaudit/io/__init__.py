"""Reading layer: discover run layouts, one reader per format, id alignment."""

from predaudit.io.discover import RunLayout, SplitLayout, discover
from predaudit.io.load import EpochPredictions, SplitInfo, SplitReader

__all__ = [
    "EpochPredictions",
    "RunLayout",
    "SplitInfo",
    "SplitLayout",
    "SplitReader",
    "discover",
]
