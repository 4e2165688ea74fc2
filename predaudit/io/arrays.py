"""Arrays in memory as a split: the door for notebooks and training loops (``from_arrays``).

The arrays travel through the same reader and validators as files do: they sit
in :class:`ArrayContainer` objects that stand in for files in a
:class:`~predaudit.io.discover.SplitLayout`, so every check and every error is
the one a file would get, naming ``<arrays>`` (or ``<arrays, epoch 3>``)
where a file name would stand.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from predaudit.dtypes import BF16
from predaudit.io.container import Container
from predaudit.io.discover import SplitLayout

ARRAYS = Path("<arrays>")


def as_numpy(x: Any) -> tuple[np.ndarray, str]:
    """A numpy view of an array-like (numpy, torch tensor on any device, list) and its dtype name.

    bfloat16 tensors become their ``uint16`` bit patterns, named ``bfloat16``.
    """
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, without importing torch
        t = x.detach().cpu()
        if str(t.dtype) == "torch.bfloat16":
            import torch

            return t.view(torch.int16).numpy().view(np.uint16), BF16
        x = t.numpy()
    arr = np.asarray(x)
    return arr, str(arr.dtype)


class ArrayContainer(Container):
    """Named in-memory arrays behind the file interface."""

    def __init__(self, path: Path, arrays: dict[str, Any]) -> None:
        self.path = path
        self._arrays: dict[str, tuple[np.ndarray, str]] = {
            k: as_numpy(v) for k, v in arrays.items() if v is not None
        }

    def keys(self) -> list[str]:
        return list(self._arrays)

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(int(s) for s in self._arrays[key][0].shape)

    def dtype_name(self, key: str) -> str:
        return self._arrays[key][1]

    def read(self, key: str) -> np.ndarray:
        return self._arrays[key][0]


def _per_epoch(x: Any, n_epochs: int) -> list[Any] | None:
    """``x`` as one entry per epoch when it is a list/tuple of that length, else None."""
    if isinstance(x, list | tuple) and len(x) == n_epochs and not np.isscalar(x[0]):
        return list(x)
    return None


def arrays_layout(
    scores: Any,
    labels: Any,
    *,
    ids: Any = None,
    epochs: Sequence[int] | None = None,
    split: str = "default",
) -> SplitLayout:
    """A split layout over arrays in memory.

    ``scores`` is one array (``[E, N, C]``, ``[E, N]``, ``[N, C]`` or ``[N]``, read
    like a stacked file) or a list of per-epoch arrays; ``labels`` and ``ids`` are
    one array for every epoch or a list with one per epoch. ``epochs`` labels the
    epochs of a list (default 1, 2, ...).
    """
    if isinstance(scores, list | tuple):
        n = len(scores)
        if n == 0:
            raise ValueError("scores is an empty list; give at least one epoch")
        labels_list = _per_epoch(labels, n)
        ids_list = _per_epoch(ids, n) if ids is not None else None
        labels_of = labels_list or [labels] * n
        ids_of = ids_list or [ids] * n
        if epochs is None:
            epochs = list(range(1, n + 1))
        epochs = [int(e) for e in epochs]
        if len(epochs) != n:
            raise ValueError(f"epochs has {len(epochs)} labels for {n} epochs of scores")
        if len(set(epochs)) != n:
            raise ValueError("epochs has repeated labels")
        order = sorted(range(n), key=lambda i: epochs[i])
        containers: dict[Path, Container] = {}
        files = []
        for i in order:
            path = Path(f"<arrays, epoch {epochs[i]}>")
            containers[path] = ArrayContainer(
                path, {"scores": scores[i], "labels": labels_of[i], "ids": ids_of[i]}
            )
            files.append((epochs[i], path))
        return SplitLayout(name=split, epoch_files=tuple(files), containers=containers)
    if epochs is not None:
        raise ValueError("epochs labels a list of per-epoch score arrays; pass scores as a list")
    container = ArrayContainer(ARRAYS, {"scores": scores, "labels": labels, "ids": ids})
    return SplitLayout(name=split, stacked=ARRAYS, containers={ARRAYS: container})
