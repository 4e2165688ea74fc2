"""Analyses: pure functions over :class:`predaudit.stats.SplitStats`."""
