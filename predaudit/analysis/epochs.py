"""Per-epoch means and epoch selection (``first``, ``best``, ``last`` or a label)."""

from __future__ import annotations

import numpy as np

from predaudit.errors import OptionError
from predaudit.store import SplitStats

EPOCH_WORDS = ("first", "best", "last")


def mean_loss(stats: SplitStats) -> np.ndarray:
    """Mean loss per epoch over the samples that count, shape (n_epochs,), nats."""
    t = stats.totals()
    return t[:, 2] / t[:, 0]


def accuracy(stats: SplitStats) -> np.ndarray:
    """Accuracy per epoch over the samples that count, shape (n_epochs,)."""
    t = stats.totals()
    return t[:, 1] / t[:, 0]


def best_epoch(stats: SplitStats, *, upto: int | None = None) -> int:
    """Label of the epoch of lowest mean loss (the earliest on ties), up to epoch ``upto``."""
    losses = mean_loss(stats)
    stop = len(stats.epochs) if upto is None else stats.epoch_index(upto) + 1
    return stats.epochs[int(np.argmin(losses[:stop]))]


def resolve_epoch(
    stats: SplitStats, spec: str | int, *, param: str = "epoch", upto: int | None = None
) -> int:
    """Turn ``first``/``best``/``last`` or an epoch label into an epoch label.

    ``best`` is the epoch of lowest mean loss among the epochs up to ``upto`` (the
    compared ``to`` epoch; every epoch when None), the same meaning in every command.
    Raises :class:`OptionError` (exit 2) for a label the run does not have.
    """
    if isinstance(spec, str):
        word = spec.strip().lower()
        if word == "first":
            return stats.epochs[0]
        if word == "last":
            return stats.epochs[-1]
        if word == "best":
            return best_epoch(stats, upto=upto)
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


def resolve_pair(
    stats: SplitStats,
    start: str | int,
    end: str | int,
    *,
    params: tuple[str, str] = ("start", "end"),
) -> tuple[int, int]:
    """The two compared epochs: ``end`` first, then ``start`` (``best`` is up to ``end``).

    Comparing an epoch with itself is an :class:`OptionError` saying how both resolved.
    """
    b = resolve_epoch(stats, end, param=params[1])
    a = resolve_epoch(stats, start, param=params[0], upto=b)
    if a == b:
        first, second = params
        if first == second:  # one option taking both: --diff FROM TO
            raise OptionError(
                f"both {_said(start, a)} and {_said(end, b)} are the same epoch: "
                "nothing to compare; choose two different epochs",
                param=first,
                value=f"{start} {end}",
            )
        raise OptionError(
            "",
            template=f"{{{first}}}{start} and {{{second}}}{end} resolve to the same epoch "
            f"({a}): nothing to compare; choose two different epochs",
        )
    return a, b


def _said(spec: str | int, epoch: int) -> str:
    """``best (epoch 5)`` for a word, ``epoch 5`` for a label."""
    if isinstance(spec, str) and spec.strip().lower() in EPOCH_WORDS:
        return f"{spec.strip().lower()} (epoch {epoch})"
    return f"epoch {epoch}"
