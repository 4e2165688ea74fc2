"""Token-level evaluations and long tables: how a split's arrays are laid out.

Token classification evaluates S sequences of T positions: scores ``[S, T, C]``
with labels ``[S, T]`` (−100 at padding and special tokens). That is one
evaluation of S·T token samples, row ``s·T + t`` with that number as its id,
never S epochs. Per-epoch files of that shape are read so without an option; a
single stacked ``[A, B, C]`` array with ``[A, B]`` labels could also be A epochs
with labels per epoch, so it needs ``layout`` (``--layout epochs|tokens``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from predaudit.errors import InputError
from predaudit.io.container import Container
from predaudit.io.discover import SplitLayout
from predaudit.io.naming import LABEL_KEYS
from predaudit.io.validate import _find_key

Opener = Callable[[Path], Container]


def expand_long_table(layout: SplitLayout, open_: Opener) -> SplitLayout:
    """A long table (an ``epoch`` column) as one in-memory epoch per epoch value."""
    if layout.stacked is None:
        return layout
    c = open_(layout.stacked)
    expand = getattr(c, "epoch_containers", None)
    per_epoch = expand() if expand is not None else None
    if not per_epoch:
        return layout
    return replace(
        layout,
        stacked=None,
        epoch_files=tuple((e, part.path) for e, part in per_epoch),
        containers={part.path: part for _, part in per_epoch},
        epoch_unit=getattr(c, "epoch_unit", layout.epoch_unit),
    )


def _first_labels_shape(
    layout: SplitLayout, open_: Opener, split_labels: tuple[np.ndarray, Path] | None
) -> tuple[int, ...] | None:
    epoch, path = layout.epoch_files[0]
    if epoch in layout.epoch_labels:
        return open_(layout.epoch_labels[epoch]).shape("labels")
    c = open_(path)
    key = _find_key(c, LABEL_KEYS, "label")
    if key is not None:
        return c.shape(key)
    return tuple(split_labels[0].shape) if split_labels is not None else None


def per_epoch_tokens(
    layout: SplitLayout,
    open_: Opener,
    shape: tuple[int, ...],
    split_labels: tuple[np.ndarray, Path] | None,
) -> int | None:
    """T when per-epoch scores are token-level ``[S, T, C]`` (labels ``[S, T]``), else None."""
    first = layout.epoch_files[0][1]
    tokens = None
    if len(shape) == 3 and layout.layout != "epochs":
        lshape = _first_labels_shape(layout, open_, split_labels)
        if lshape is not None and tuple(lshape) == tuple(shape[:2]):
            tokens = shape[1]
        elif layout.layout == "tokens":
            raise InputError(
                first,
                f"token-level scores of shape {tuple(shape)} need labels of shape "
                f"{tuple(shape[:2])}; the labels have shape {tuple(lshape or ())}",
            )
    if len(shape) > 2 and tokens is None and not (len(shape) == 3 and shape[0] == 1):
        raise InputError(
            first,
            f"per-epoch scores have shape {shape}; expected [N, C], [N], or "
            "[sequences, tokens, classes] with labels [sequences, tokens]",
        )
    return tokens


def stacked_labels_per_epoch(
    shape: tuple[int, ...], lshape: tuple[int, ...], layout: str | None, where: str
) -> bool:
    """Whether stacked ``[A, B, C]`` scores come with labels per epoch ``[A, B]``.

    With ``layout="tokens"`` they must (they are then ``[S, T]``); without a layout,
    ``[A, B]`` labels leave the reading open, which is an error naming the option.
    """
    e, n, c = shape
    per_epoch = len(lshape) == 2 and tuple(lshape) == (e, n) and tuple(lshape) != (n, c)
    if per_epoch and layout is None:
        raise InputError(
            where,
            f"scores of shape {tuple(shape)} with labels of shape {tuple(lshape)} "
            "could be [epochs, samples, classes] with labels per epoch or [sequences, "
            "tokens, classes] (one evaluation); pass --layout epochs or --layout tokens",
        )
    if layout == "tokens" and not per_epoch:
        raise InputError(
            where,
            f"token-level scores of shape {tuple(shape)} need labels of shape "
            f"{(e, n)}; the labels have shape {tuple(lshape)}",
        )
    return per_epoch


def flatten_tokens(
    scores: np.ndarray, labels: np.ndarray, path: Path, lpath: Path
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``[S, T, C]`` scores and ``[S, T]`` labels as ``S·T`` rows, with ids ``s·T + t``."""
    if scores.ndim != 3 or labels.shape != scores.shape[:2]:
        both = str(path) if lpath == path else f"{lpath}, {path}"
        raise InputError(
            both,
            f"token-level scores have shape {tuple(scores.shape)} and labels "
            f"{tuple(labels.shape)}; expected [S, T, C] and [S, T]",
        )
    s, t, c = scores.shape
    ids = np.arange(s * t, dtype=np.int64)
    return scores.reshape(s * t, c), labels.reshape(s * t), ids
