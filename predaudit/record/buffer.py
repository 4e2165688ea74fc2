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

from predaudit.errors import InputError, OptionError

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


def distributed_rank() -> tuple[int, int]:
    """(rank, world size) of a running ``torch.distributed``, else (0, 1); never imports torch."""
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        return int(dist.get_rank()), int(dist.get_world_size())
    return 0, 1


def check_auto_ids(ordered: bool, sharded: bool | None) -> None:
    """Raise :class:`~predaudit.OptionError` unless a recorder made with ``ordered`` and
    ``sharded`` may number a batch's samples itself (a batch without ids)."""
    if not ordered:
        raise OptionError(
            "give each sample's id, or pass ordered=True to Recorder() when every "
            "epoch sees the samples in the same order",
            param="ids",
            value="None",
        )
    if sharded is not False and distributed_rank()[1] > 1:
        raise OptionError(
            "every process numbers its own samples: under torch.distributed give each "
            "sample's id (e.g. the dataset index)",
            param="ids",
            value="None",
        )


def is_numeric(name: str) -> bool:
    """Whether a dtype named ``name`` (:func:`dtype_name`) holds numbers."""
    return name.startswith(("float", "bfloat", "int", "uint"))


def unlike_before(
    tails: tuple[tuple[int, ...], tuple[int, ...]],
    before: tuple[tuple[int, ...], tuple[int, ...]],
    shape_s: tuple[int, ...],
    shape_y: tuple[int, ...],
    name: str,
    dtype: str,
) -> str | None:
    """How a batch (scores of shape ``shape_s`` and dtype ``name``, labels of shape
    ``shape_y``; ``tails``: their shapes past the batch axis) differs from the earlier
    ones (``before``, ``dtype``), if it does."""
    for what, shape, tail, earlier in zip(
        ("scores", "labels"), (shape_s, shape_y), tails, before, strict=True
    ):
        if tail != earlier:
            return f"{what} have shape {shape} but earlier batches {(None, *earlier)}"
    if name != dtype:
        return f"scores are {name} but earlier batches were {dtype}"
    return None


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


def version(x: Any) -> int:
    """A torch tensor's version counter (-1 for anything else)."""
    return int(x._version) if hasattr(x, "_version") else -1


Form = tuple[Any, Any, Any, tuple[int, ...], tuple[int, ...]]
"""A batch of torch tensors' dtypes (scores, labels, ids; None for numbered samples) and
the scores' and labels' shapes past the batch axis (:attr:`Batches.form`)."""


def form_of(key: tuple[Any, ...], tails: tuple[tuple[int, ...], tuple[int, ...]]) -> Form:
    """The :attr:`Batches.form` of a batch of torch tensors whose
    ``key`` (see ``Recorder.add``) and ``tails`` (shapes past the batch axis) are given."""
    return key[2], key[5], None if key[6] is None else key[6][2], tails[0], tails[1]


def can_require_grad(key: tuple[Any, ...]) -> bool:
    """Whether the labels or ids of a batch of torch tensors whose ``key`` (see
    ``Recorder.add``) is given can require grad (only floating and complex tensors can)."""
    dtypes = (key[5],) if key[6] is None else (key[5], key[6][2])
    return any(d.is_floating_point or d.is_complex for d in dtypes)


class Batches:
    """One epoch's kept batches in the order they were added: per batch one tuple
    ``(scores, labels, ids, batch, versions…)`` — ids None when the recorder numbers the
    samples, ``batch`` its 1-based number, then the version of each of the three when it
    was kept (-1: not a tensor), which tells whether it was changed in place since."""

    def __init__(self, where: Any = None) -> None:
        self.where = where  # the path errors about the batches name
        self.held: list[tuple[Any, Any, Any, int, int, int, int]] = []
        self.n = 0  # rows (samples) held, counted as batches are added
        self.form: Form | None = None  # of every batch held, if they share one (see note)

    def note(self, form: Form | None) -> None:
        """The form of the batch about to be held (None: not torch tensors, or not known)."""
        if not self.held:
            self.form = form
        elif form != self.form:
            self.form = None

    def hold(self, batch: int, s: Any, y: Any, i: Any) -> None:
        """Hold one batch's arrays, already kept (:func:`keep`)."""
        self.held.append((s, y, i, batch, version(s), version(y), version(i)))

    def columns(self) -> tuple[list[Any], list[Any], list[Any]]:
        """The scores, labels and ids (empty when numbered) batch by batch; the batches are
        released (so that the columns, emptied as they are joined, hold the epoch once).

        Raises :class:`~predaudit.InputError` if a tensor kept without a copy was changed
        in place after ``add()``."""
        held, self.held = self.held, []
        for s, y, i, batch, vs, vy, vi in held:
            if (
                (vs >= 0 and s._version != vs)
                or (vy >= 0 and y._version != vy)
                or (vi >= 0 and i._version != vi)
            ):
                raise InputError(self.where, changed_in_place(batch))
        scores = [h[0] for h in held]
        labels = [h[1] for h in held]
        ids = [h[2] for h in held] if held and held[0][2] is not None else []
        return scores, labels, ids


def changed_in_place(batch: int) -> str:
    return (
        f"batch {batch} (or the tensor it is a view of) was changed in place after add(); "
        "add a copy of a tensor you reuse (tensor.clone())"
    )


def _join(pieces: list[Any], copy: bool) -> np.ndarray:
    types = {type(p) for p in pieces}
    tensors = np.ndarray not in types and all(hasattr(t, "detach") for t in types)
    if len(pieces) == 1:
        arr = to_numpy(pieces[0])
        return arr.copy() if copy and tensors else arr
    if tensors:
        return to_numpy(sys.modules["torch"].cat(pieces))
    return np.concatenate([to_numpy(p) for p in pieces])


def planned(pieces: list[Any], rows: int) -> tuple[np.dtype, tuple[int, ...], Any]:
    """The dtype and shape of the kept pieces (``rows`` in all) joined (as :func:`concat`
    makes them), and what :func:`join_into` copies from: the pieces themselves when they
    are torch tensors of one dtype or numpy arrays of one dtype (copied straight into the
    destination), else their join (made here)."""
    first = pieces[0]
    dtypes = {p.dtype for p in pieces}
    if len(dtypes) == 1 and len({type(p) for p in pieces}) == 1:
        if type(first) is np.ndarray:
            return first.dtype, (rows, *first.shape[1:]), pieces
        if hasattr(first, "detach"):
            dtype = _NUMPY_OF.get(first.dtype)
            if dtype is None:
                dtype = _NUMPY_OF[first.dtype] = to_numpy(first[:0]).dtype
            return dtype, (rows, *(int(d) for d in first.shape[1:])), pieces
    joined = _join(pieces, False)
    return joined.dtype, joined.shape, joined


_NUMPY_OF: dict[Any, np.dtype] = {}  # a torch dtype -> the numpy dtype of to_numpy


def join_into(source: Any, dest: np.ndarray) -> None:
    """Copy ``source`` (from :func:`planned`) into ``dest``, pieces one after the other
    (a bfloat16 tensor into float32, exactly)."""
    if isinstance(source, np.ndarray):
        np.copyto(dest, source)
    elif type(source[0]) is np.ndarray:
        np.concatenate(source, out=dest)
    else:
        torch = sys.modules["torch"]
        torch.cat(source, out=torch.from_numpy(dest))


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
