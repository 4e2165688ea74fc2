"""The bytes of a cache entry: an uncompressed ``.npz`` written a row at a time, read as maps.

An entry's per-sample columns (shape (n_epochs, n_rows)) are as large as the
statistics of the run, so they are never held whole: :func:`write_members` streams
each column into its zip member an epoch row at a time, and :func:`map_members`
maps the members of a stored (uncompressed) entry read-only, without reading them.
:func:`validate` checks the values an epoch at a time and gives the pages back; a
command that reads only a few epochs (``analyze``'s compared ones, :func:`kept_epochs`)
has only those checked, and only those readable (:func:`only_epochs`). A column whose
row is the same at every epoch (the labels, mostly) is stored as that one row
(:func:`constant_rows`).
"""

from __future__ import annotations

import mmap
import os
import struct
import zipfile
from typing import IO, Any

import numpy as np

from predaudit.store.columns import KeepEpochs, KeptRows, release
from predaudit.store.stats import COLUMNS, SplitStats

_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_LOCAL_MAGIC = b"PK\x03\x04"
_RELEASE_BYTES = 64 * 1024 * 1024


def write_members(
    fh: IO[bytes], small: dict[str, np.ndarray], arrays: dict[str, np.ndarray]
) -> None:
    """An uncompressed ``.npz`` of ``small`` then ``arrays`` (members ``NAME.npy``), into ``fh``.

    Two-dimensional arrays are written a row at a time and their mapped pages given
    back as they go (:func:`~predaudit.store.columns.release`).
    """
    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, a in {**small, **arrays}.items():
            with zf.open(name + ".npy", "w", force_zip64=True) as m:
                if a.ndim != 2 or a.dtype.hasobject:
                    np.lib.format.write_array(m, np.ascontiguousarray(a), allow_pickle=False)
                    continue
                d = np.lib.format.header_data_from_array_1_0(np.empty((0,), dtype=a.dtype))
                d["shape"] = a.shape
                np.lib.format.write_array_header_2_0(m, d)
                since = 0
                for i in range(a.shape[0]):
                    row = np.ascontiguousarray(a[i])
                    m.write(row.data.cast("B"))
                    since += row.nbytes
                    if since >= _RELEASE_BYTES:
                        release(a)
                        since = 0
                release(a)


def map_members(fh: IO[bytes], names: list[str]) -> dict[str, np.ndarray]:
    """Members ``NAME.npy`` of the uncompressed zip open as ``fh``, as read-only arrays
    mapping the file (not read). Raises ``ValueError`` for anything but plain stored
    ``.npy`` members lying whole inside the file."""
    size = os.fstat(fh.fileno()).st_size
    out: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(fh) as zf:
        infos = {name: zf.getinfo(name + ".npy") for name in names}
    if not infos:
        return out
    mm = mmap.mmap(fh.fileno(), 0, prot=mmap.PROT_READ)
    for name, info in infos.items():
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
            raise ValueError(f"{name}: not stored")
        fields = _LOCAL_HEADER.unpack_from(mm, info.header_offset)
        if fields[0] != _LOCAL_MAGIC:
            raise ValueError(f"{name}: bad local header")
        start = info.header_offset + _LOCAL_HEADER.size + fields[-2] + fields[-1]
        out[name] = _npy_view(mm, start, info.file_size, size, name)
    return out


def _npy_view(mm: mmap.mmap, start: int, member_size: int, size: int, name: str) -> np.ndarray:
    import io

    head = io.BytesIO(mm[start : start + min(member_size, 65536 + 16)])
    version = np.lib.format.read_magic(head)
    reader: Any = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0
    )
    shape, fortran, dtype = reader(head, max_header_size=65536)
    if fortran or dtype.hasobject or any(d < 0 for d in shape):
        raise ValueError(f"{name}: not a plain array")
    count = int(np.prod(shape, dtype=np.int64))
    offset = start + head.tell()
    if head.tell() + count * dtype.itemsize != member_size:
        raise ValueError(f"{name}: size does not match its header")
    if offset + count * dtype.itemsize > size:
        raise ValueError(f"{name}: past the end of the file")
    return np.frombuffer(mm, dtype=dtype, count=count, offset=offset).reshape(shape)


def constant_rows(
    arrays: dict[str, np.ndarray], names: list[str], values: dict[str, Any]
) -> dict[str, np.ndarray]:
    """The columns stored as their one row, as read-only broadcasts to (n_epochs, n_rows)."""
    out = {}
    for name in names:
        row = arrays[name]
        if row.ndim != 2 or row.shape[0] != 1:
            raise ValueError(f"{name}: a constant column of shape {row.shape}")
        out[name] = np.broadcast_to(row, (len(values["epochs"]), row.shape[1]))
    return out


def kept_epochs(stats: SplitStats, keep: KeepEpochs | None) -> list[int] | None:
    """The epoch indices ``keep`` keeps, those ``compute_split`` keeps from the same totals
    (the running best epoch ends as the best over every epoch up to ``to``), or None: every
    epoch (no ``keep``, a label changed, or no running aggregates to read instead)."""
    totals, moments = stats.epoch_totals, stats.p_true_moments
    if keep is None or totals is None or moments is None or not stats.labels_stable:
        return None
    return sorted(keep.bind(list(stats.epochs)).wanted(len(stats.epochs) - 1, totals))


def only_epochs(stats: SplitStats, epochs: list[int]) -> None:
    """Make only ``epochs`` of every per-sample column readable (in place): any other epoch
    raises :class:`~predaudit.store.columns.NotKept`, as without the cache."""
    present = [name for name in COLUMNS if getattr(stats, name) is not None]
    kept = {i: {name: getattr(stats, name)[i] for name in present} for i in epochs}
    for name in present:
        col = getattr(stats, name)
        setattr(stats, name, KeptRows(col.shape, col.dtype, kept, name))


def validate(stats: SplitStats, *, epochs: list[int] | None = None) -> None:
    """Raise ``ValueError`` unless the cached arrays hold values the reduction can produce:
    integer labels in [0, C) or -100 (ignored), boolean masks, losses >= 0 (or +inf: an
    overflow) and predictions in [0, C) where a sample counts, probabilities in [0, 1].

    A block of epochs at a time (up to :data:`VALIDATE_BLOCK_BYTES` of a column: one
    epoch when they are large, many small ones in one pass), giving mapped pages back
    after each; with ``epochs`` (indices), only those epochs' rows. The per-epoch totals
    and the running moments are checked for shape."""
    c = int(stats.n_classes)
    if c < 1 or stats.valid.dtype != np.bool_ or stats.correct.dtype != np.bool_:
        raise ValueError("masks")
    for name in ("labels", "pred"):
        if getattr(stats, name).dtype.kind not in "iu":
            raise ValueError(f"{name} dtype")
    for name in ("loss", "p_true", "confidence", "margin"):
        if getattr(stats, name).dtype.kind != "f":
            raise ValueError(f"{name} dtype")
    if stats.ids is not None and stats.ids.shape[:1] != stats.loss.shape[1:2]:
        raise ValueError("ids")
    columns = (stats.labels, stats.valid, stats.pred, stats.loss, stats.p_true, stats.confidence)
    e, n = stats.loss.shape[:2] if stats.loss.ndim == 2 else (stats.loss.shape[0], 1)
    step = max(1, VALIDATE_BLOCK_BYTES // max(1, n * stats.loss.dtype.itemsize))
    blocks = (
        [slice(a, a + step) for a in range(0, e, step)]
        if epochs is None
        else [slice(i, i + 1) for i in epochs]
    )
    try:
        for rows in blocks:
            _validate_epochs(stats, rows, c)
            release(*columns)  # this block's pages: memory stays at one block
    finally:
        release(*columns)
    if stats.epoch_totals is not None and stats.epoch_totals.shape != (len(stats.epochs), 5):
        raise ValueError("epoch totals")
    moments, every = stats.p_true_moments, stats.valid_all
    if moments is not None and (moments.shape != (2, n) or moments.dtype != np.float64):
        raise ValueError("p_true moments")
    if every is not None and (every.shape != (n,) or every.dtype != np.bool_):
        raise ValueError("valid_all")


VALIDATE_BLOCK_BYTES = 8 << 20
"""The most bytes of one column :func:`validate` checks in one pass."""


def _validate_epochs(stats: SplitStats, rows: slice, c: int) -> None:
    """Some epochs' rows, in a few whole-array passes (masked reductions only as a fallback;
    every check is elementwise, so a block passes exactly when each of its epochs does)."""
    valid, labels = stats.valid[rows], stats.labels[rows]
    if not np.array_equal(valid, labels != -100):
        raise ValueError("valid does not match the labels")
    n_ignored = valid.size - int(np.count_nonzero(valid))
    # every label is -100 exactly where ignored (above), so: no other negative, none >= C
    if labels.size and (labels.max() >= c or np.count_nonzero(labels < 0) != n_ignored):
        raise ValueError("labels out of range")
    with np.errstate(invalid="ignore"):
        for name, lo, hi in (
            ("pred", 0, c - 1),
            ("loss", 0.0, np.inf),
            ("p_true", 0.0, 1.0),
            ("confidence", 0.0, 1.0),
        ):
            if not _in_range(getattr(stats, name)[rows], valid, lo, hi, n_ignored):
                raise ValueError(f"{name} out of range")


def _in_range(col: np.ndarray, valid: np.ndarray, lo: float, hi: float, n_ignored: int) -> bool:
    """Whether ``col[valid]`` lies in ``[lo, hi]`` with no NaN: whole-array min/max first
    (what ignored rows hold does not matter), a masked pass only when those fail."""
    if not col.size:
        return True
    if n_ignored == 0:
        return bool(col.min() >= lo and col.max() <= hi)  # a NaN fails
    if col.dtype.kind == "f":
        if np.any(np.isnan(col) & valid):
            return False
        a, b = np.fmin.reduce(col, axis=None), np.fmax.reduce(col, axis=None)
    else:
        a, b = col.min(), col.max()
    if a >= lo and b <= hi:
        return True
    return bool(
        np.min(col, where=valid, initial=lo) >= lo and np.max(col, where=valid, initial=lo) <= hi
    )
