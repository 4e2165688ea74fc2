"""Per-epoch means and epoch selection (``first``, ``best``, ``last`` or a label)."""

from __future__ import annotations

import numpy as np

from predaudit.errors import OptionError
from predaudit.store import SplitStats

EPOCH_WORDS = ("first", "best", "last")


def mean_loss(stats: SplitStats) -> np.ndarray:
    """Mean loss per epoch over the samples that count, shape (n_epochs,), nats."""
    masked = np.where(stats.valid, stats.loss, 0.0)
    return masked.sum(axis=1) / stats.valid.sum(axis=1)


def accuracy(stats: SplitStats) -> np.ndarray:
    """Accuracy per epoch over the samples that count, shape (n_epochs,)."""
    return (stats.correct & stats.valid).sum(axis=1) / stats.valid.sum(axis=1)


def best_epoch(stats: SplitStats, *, upto: int | None = None) -> int:
    """Label of the epoch of lowest mean loss (the earliest on ties), up to epoch ``upto``."""
    losses = mean_loss(stats)
    stop = len(stats.epochs) if upto is None else stats.epoch_index(upto) + 1
    return stats.epochs[int(np.argmin(losses[:stop]))]


def resolve_epoch(stats: SplitStats, spec: str | int, *, param: str = "epoch") -> int:
    """Turn ``first``/``best``/``last`` or an epoch label into an epoch label.

    Raises :class:`OptionError` (exit 2) for a label the run does not have.
    """
    if isinstance(spec, str):
        word = spec.strip().lower()
        if word == "first":
            return stats.epochs[0]
        if word == "last":
            return stats.epochs[-1]
        if word == "best":
            return best_epoch(stats)
        try:
            spec = int(word)
        except ValueError:
            raise OptionError(
                f"expected an epoch label or one of {', '.join(EPOCH_WORDS)}",
                param=param,
                value=repr(spec),
            ) from None
    if spec not in stats.epochs:
        raise OptionError(
            f"split '{stats.name}' has no epoch {spec} "
            f"(epochs {stats.epochs[0]}..{stats.epochs[-1]})",
            param=param,
            value=str(spec),
        )
    return int(spec)
