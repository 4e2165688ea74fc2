"""The store: per-sample statistics (``SplitStats``/``RunStats``), how they are built, the cache."""

from predaudit.store.stats import RunStats, SplitStats

__all__ = ["RunStats", "SplitStats"]
