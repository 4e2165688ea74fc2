"""Batches in, one epoch out: what ``add()`` keeps of a batch, and the epoch's columns.

A batch is kept as it came, without converting it: a torch tensor on the CPU is kept
as it is (detached if it requires grad; sharing its storage: no copy; its version
counter tells whether it was changed in place afterwards), one on another device is
copied to the CPU, anything else is copied into a numpy array (so that a buffer the
caller reuses cannot change what was recorded). The pieces become numpy arrays only
when the epoch is written, joined into runs of a few MiB (:func:`runs`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np

_BF16: list[Any] = []  # torch.bfloat16, looked up once torch is in use


def keep(x: Any) -> Any:
    """What the recorder holds of one batch's array (see the module docs)."""
    if not hasattr(x, "detach"):
        return np.array(x)
    return keep_tensor(x)


def keep_tensor(t: Any) -> Any:
    """A torch tensor on the CPU without autograd history: ``t`` itself when it has none."""
    if t.requires_grad:
        t = t.detach()
    return t if t.is_cpu else t.cpu()


def hold(column: list[Any], batches: Batches, batch: int, x: Any, tensor: bool) -> None:
    """Append what is kept of ``x`` (a torch tensor if ``tensor``) to ``column``, one of
    ``batches``' columns; note a tensor's version there."""
    if tensor:
        k = x if x.is_cpu and not x.requires_grad else keep_tensor(x)
        batches.tensors.append(k)
        batches.versions.append(k._version)
        batches.batch_of.append(batch)
    else:
        k = np.array(x)
    column.append(k)


def to_numpy(x: Any) -> np.ndarray:
    """A kept piece as a numpy array (a CPU tensor: a view of it, bfloat16 as exact float32).

    Torch is never imported here; numpy has no bfloat16, so bfloat16 tensors become
    float32 (exactly). See :func:`dtype_name` for the dtype a batch came in.
    """
    if type(x) is np.ndarray:
        return x
    detach = getattr(x, "detach", None)
    if detach is None:
        return np.asarray(x)
    t = detach()
    if not _BF16:
        _BF16.append(sys.modules["torch"].bfloat16)
    if t.dtype is _BF16[0]:
        t = t.float()
    return np.asarray(t.cpu().numpy())


def dtype_name(x: Any) -> str:
    """``float16``, ``bfloat16``, …: the dtype of a numpy array or torch tensor."""
    name = str(x.dtype) if hasattr(x, "dtype") else str(np.asarray(x).dtype)
    return name.removeprefix("torch.")


def shape_of(x: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in x.shape)


def tokens_as_samples(
    s: Any, y: Any, i: Any, before: int | None, error: Callable[[str], Exception]
) -> tuple[Any, Any, Any, int]:
    """Token scores ``[B, T, C]``, labels ``[B, T]`` and ids ``[B]`` (or ``[B, T]``, or
    None) as ``B*T`` samples, token ``t`` of sequence ``id`` getting the id ``id * T + t``;
    also ``T``, which must equal ``before`` (the earlier batches' ``T``) if given."""
    n, t, c = shape_of(s)
    if shape_of(y) != (n, t):
        raise error(f"token labels have shape {shape_of(y)}, not {(n, t)}")
    if before is not None and t != before:
        raise error(
            f"{t} tokens per sequence but {before} before; pad every batch "
            "to the same length, or flatten the tokens and pass one id per token"
        )
    s, y = s.reshape(n * t, c), y.reshape(n * t)
    if i is None:
        return s, y, None, t  # numbered at the end: sequence * T + token = arrival order
    if shape_of(i) == (n, t):
        return s, y, i.reshape(n * t), t
    seq = to_numpy(i)
    if seq.shape != (n,) or seq.dtype.kind not in "iu":
        raise error(f"token scores need integer sequence ids [B] (got {seq.shape})")
    tok = seq.astype(np.int64)[:, None] * t + np.arange(t, dtype=np.int64)
    return s, y, tok.reshape(n * t), t


class Batches:
    """One epoch's kept batches, column by column, in the order they were added."""

    def __init__(self, where: Any = None) -> None:
        self.where = where  # the path errors about the batches name
        self.scores: list[Any] = []
        self.labels: list[Any] = []
        self.ids: list[Any] = []  # empty when the recorder numbers the samples
        # the tensors kept without a copy, their versions when added and their batches
        self.tensors: list[Any] = []
        self.versions: list[int] = []
        self.batch_of: list[int] = []

    @property
    def n(self) -> int:
        """Rows (samples) held."""
        return sum(int(s.shape[0]) for s in self.scores)

    def hold(self, column: list[Any], batch: int, k: Any) -> None:
        """Append ``k`` (kept by :func:`keep`) to ``column``; note its version if a tensor."""
        column.append(k)
        if hasattr(k, "_version"):
            self.tensors.append(k)
            self.versions.append(k._version)
            self.batch_of.append(batch)

    def changed(self) -> int | None:
        """The (1-based) batch whose tensor was changed in place after ``add()``, if any;
        the tensors are released."""
        now = [t._version for t in self.tensors]
        self.tensors.clear()
        if now == self.versions:
            return None
        return next(b for b, v, n in zip(self.batch_of, self.versions, now, strict=True) if v != n)


def _join(pieces: list[Any], copy: bool) -> np.ndarray:
    types = {type(p) for p in pieces}
    tensors = np.ndarray not in types and all(hasattr(t, "detach") for t in types)
    if len(pieces) == 1:
        arr = to_numpy(pieces[0])
        return arr.copy() if copy and tensors else arr
    if tensors:
        return to_numpy(sys.modules["torch"].cat(pieces))
    return np.concatenate([to_numpy(p) for p in pieces])


def concat(pieces: list[Any], *, copy: bool = False) -> np.ndarray:
    """One numpy array of the kept pieces (with ``copy``, never a view of a tensor)."""
    return _join(pieces, copy)


def runs(pieces: list[Any], max_bytes: int, *, copy: bool = False) -> list[np.ndarray]:
    """The kept pieces as numpy arrays, consecutive ones joined while they stay within
    ``max_bytes`` (a larger piece stays alone); ``pieces`` is emptied as they are joined,
    so the epoch is held about once. With ``copy``, no run is a view of a tensor."""
    sizes = [p.nbytes for p in pieces]  # numpy arrays and torch tensors alike
    if sum(sizes) <= max_bytes:  # one run (an epoch of a small model: the usual case)
        out = [_join(pieces, copy)]
        pieces.clear()
        return out
    out = []
    run: list[Any] = []
    size = 0
    pieces.reverse()
    while pieces:
        p = pieces.pop()
        nbytes = p.nbytes
        if run and size + nbytes > max_bytes:
            out.append(_join(run, copy))
            run, size = [], 0
        run.append(p)
        size += nbytes
    if run:
        out.append(_join(run, copy))
    return out
