"""A cache of reduced per-sample statistics, so a second look at a run is instant.

One entry per split and score-kind option, under ``$XDG_CACHE_HOME/predaudit``
(``~/.cache/predaudit`` when the variable is unset or not an absolute path). An
entry is an uncompressed ``.npz`` holding the arrays of a
:class:`~predaudit.store.SplitStats` and a JSON header with everything else.

- **Key.** The entry's file name hashes what identifies the work: the cache
  format version, predaudit's version, the fields of ``SplitStats``, the split
  name, its files' resolved paths (with the epoch each came from) and the
  ``input_kind`` option. Inside, the entry records each file's size,
  modification and inode change times in nanoseconds and a hash of its first and
  last 64 KiB and of a few blocks between (:func:`fingerprint`); if any differs
  now, the entry is stale. ``cp -p`` keeps the modification time but not the
  change time, and a rewrite of the same size changes the sampled hash.
- **Ownership.** The folder carries a ``CACHEDIR.TAG`` (the Cache Directory Tagging
  spec: backup tools skip it), entries are named ``predaudit-<40 hex>.npz`` and
  start with a ``__header__`` member naming this cache; :func:`clear` deletes only
  files it verifies that way, never anything else in the folder.
- **Validated on use.** A cached entry is checked for shape, dtype and range
  (labels in range or -100, losses >= 0 where they count, predictions in [0, C),
  probabilities in [0, 1], one row per epoch) before it is used.
- **Writes are atomic** (:func:`predaudit.output.write_atomic`: a temporary file
  in the same folder, then ``os.replace``). Readers never see half an entry; a
  crash leaves at most a ``*.tmp`` file that :func:`clear` removes.
- **Corrupt or stale entries are ignored** (and deleted); the caller recomputes
  and stores again. No cache failure ever stops an analysis: :func:`store`
  returns False when it cannot write.

Nothing in the entry is unpickled: ``np.load(allow_pickle=False)``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np

from predaudit.io.discover import SplitLayout
from predaudit.output import write_atomic
from predaudit.store.cachedir import (  # entries: the cache's entries, listed
    _TMP_NAME,
    NotAnEntry,
    _entry_opener,
    _regular_opener,
    cache_dir,
    content_hash,
    entries,
    entry_identity,
    inside,
    is_entry,
    prepare_dir,
)
from predaudit.store.columns import KeepEpochs
from predaudit.store.entry import (
    constant_rows,
    kept_epochs,
    map_members,
    only_epochs,
    validate,
    write_members,
)
from predaudit.store.stats import COLUMNS, SplitStats
from predaudit.version import __version__

CACHE_VERSION = 6  # 6: a probs/log_probs key the values do not bear out is refused (such
# entries held the scores read as logits); 5: totals in blocks, few-class fits from a subsample
_SUFFIX = ".npz"
_PREFIX = "predaudit-"
_HEADER = "__header__"


def _stats_class() -> type[SplitStats]:
    return SplitStats


def _version() -> str:
    return __version__


def _sources(layout: SplitLayout) -> list[tuple[str, str]]:
    """(role, resolved path) for every file the split's statistics depend on."""
    resolve = _Resolver()
    out: list[tuple[str, str]] = []
    if layout.stacked is not None:
        out.append(("stacked", resolve(layout.stacked)))
    out.extend((f"epoch {e}", resolve(p)) for e, p in layout.epoch_files)
    if layout.labels_file is not None:
        out.append(("labels", resolve(layout.labels_file)))
    if layout.ids_file is not None:
        out.append(("ids", resolve(layout.ids_file)))
    out.extend((f"labels {e}", resolve(p)) for e, p in sorted(layout.epoch_labels.items()))
    out.extend((f"ids {e}", resolve(p)) for e, p in sorted(layout.epoch_ids.items()))
    for e, shards in sorted(layout.epoch_shards.items()):
        out.extend((f"shard {e}", resolve(p)) for p in shards[1:])
    return out


class _Resolver:
    """``str(path.resolve())``, each folder resolved once: a file that is no symbolic link
    resolves to its folder's resolved path and its name (one ``lstat`` a file, not one a
    path component; 500 epoch files of one folder: 15 -> 3 ms)."""

    def __init__(self) -> None:
        self._folders: dict[Path, str] = {}

    def __call__(self, path: Path) -> str:
        name = path.name
        if name in ("", ".", ".."):
            return str(path.resolve())
        try:
            if stat.S_ISLNK(os.lstat(path).st_mode):
                return str(path.resolve())
        except OSError:
            pass  # missing: resolve() keeps the name as it is, after its resolved folder
        folder = self._folders.get(path.parent)
        if folder is None:
            folder = self._folders[path.parent] = str(path.parent.resolve())
        return os.path.join(folder, name)


def fingerprint(
    layout: SplitLayout, *, sources: list[tuple[str, str]] | None = None
) -> list[list[Any]]:
    """Per file of the split, in :func:`_sources` order: path, size, modification and inode
    change times (ns) and :func:`content_hash`.

    Take it before computing the statistics and pass it to :func:`store`, so a
    file rewritten during the computation leaves a stale entry, not a wrong one.
    Raises ``OSError`` when a file is missing or is not a regular file (a FIFO is
    never opened here; its reader refuses it).
    """
    out: list[list[Any]] = []
    for _, path in sources if sources is not None else _sources(layout):
        with open(path, "rb", opener=_regular_opener) as fh:
            st = os.fstat(fh.fileno())
            out.append([path, st.st_size, st.st_mtime_ns, st.st_ctime_ns, content_hash(fh, st)])
    return out


def _usable(layout: SplitLayout, sources: list[tuple[str, str]] | None = None) -> bool:
    """False when the cache folder lies inside a folder holding one of the split's files."""
    folders = {Path(path).parent for _, path in sources or _sources(layout)}
    return all(inside(folder) is None for folder in folders)


def _identity(
    layout: SplitLayout,
    input_kind: str | None,
    options: dict[str, Any] | None = None,
    sources: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    fields = [f.name for f in dataclasses.fields(_stats_class())]
    return {
        "cache_version": CACHE_VERSION,
        "predaudit": _version(),
        "fields": fields,
        "split": layout.name,
        "sources": sources if sources is not None else _sources(layout),
        "input_kind": input_kind,
        "options": options or {},
    }


def entry_path(
    layout: SplitLayout, input_kind: str | None, *, options: dict[str, Any] | None = None
) -> Path:
    """Where the entry for this split and these options lives (it may not exist)."""
    return _entry_path(json.dumps(_identity(layout, input_kind, options), sort_keys=True))


def _entry_path(identity_json: str) -> Path:
    digest = hashlib.sha256(identity_json.encode()).hexdigest()[:40]
    return cache_dir() / (_PREFIX + digest + _SUFFIX)


def load_cached(
    layout: SplitLayout,
    input_kind: str | None,
    *,
    options: dict[str, Any] | None = None,
    keep: KeepEpochs | None = None,
    current: list[list[Any]] | None = None,
) -> SplitStats | None:
    """The cached :class:`~predaudit.store.SplitStats` of this split, or None.

    ``current``: the split's :func:`fingerprint`, when the caller has just taken it.

    None when there is no entry, or it is stale (a file changed size or
    modification time), corrupt or from another version; such an entry is
    deleted.

    ``keep`` (the epochs a command reads, as ``compute_split`` takes it): only those
    epochs' rows are range-checked and readable (:class:`~predaudit.store.columns.KeptRows`;
    any other epoch raises), so a rerun reads the compared epochs' columns and the
    per-epoch aggregates, not every epoch. Ignored, like there, when a label changed
    between epochs or the entry has no running aggregates.
    """
    sources = _sources(layout)
    identity_json = json.dumps(_identity(layout, input_kind, options, sources), sort_keys=True)
    path = _entry_path(identity_json)
    try:
        current = fingerprint(layout, sources=sources) if current is None else current
    except OSError:
        return None
    if not _usable(layout, sources):
        return None
    try:
        with open(path, "rb", opener=_entry_opener) as fh:
            with np.load(fh, allow_pickle=False) as npz:
                header = json.loads(bytes(npz[_HEADER]).decode())
            if header.get("identity") != json.loads(identity_json):
                raise ValueError("identity")
            if header.get("fingerprint") != current:
                raise ValueError("stale")
            arrays = map_members(fh, header["arrays"])
            arrays.update(constant_rows(arrays, header.get("constant_rows", []), header["values"]))
    except (FileNotFoundError, NotAnEntry):  # absent, or not ours to delete
        return None
    except Exception:  # corrupt, truncated, stale or foreign: drop it, recompute
        _unlink(path)
        return None
    try:
        return _rebuild(layout, header["values"], arrays, keep=keep)
    except Exception:
        del arrays
        _unlink(path)
        return None


def _rebuild(
    layout: SplitLayout,
    values: dict[str, Any],
    arrays: dict[str, np.ndarray],
    *,
    keep: KeepEpochs | None = None,
) -> SplitStats:
    cls = _stats_class()
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.metadata.get("cached", True):
            continue  # not stored (the split's source); the caller sets it
        if f.name in arrays:
            kwargs[f.name] = arrays[f.name]
        elif f.name in values:
            kwargs[f.name] = values[f.name]
        else:
            raise KeyError(f.name)
    # how the run was addressed this time (a relative path may differ)
    kwargs["name"] = layout.name
    kwargs["files"] = [str(p) for p in layout.files]
    kwargs["pattern"] = layout.pattern
    stats = cls(**kwargs)
    shape = stats.loss.shape
    for name in ("labels", "valid", "pred", "correct", "p_true", "confidence", "margin"):
        if getattr(stats, name).shape != shape:
            raise ValueError(f"{name} has shape {getattr(stats, name).shape}, loss {shape}")
    if len(shape) != 2 or len(stats.epochs) != shape[0]:
        raise ValueError("epochs do not match the arrays")
    epochs = kept_epochs(stats, keep)
    validate(stats, epochs=epochs)
    if epochs is not None:
        only_epochs(stats, epochs)
    return stats


def store(
    layout: SplitLayout,
    input_kind: str | None,
    stats: SplitStats,
    *,
    fingerprint_before: list[list[Any]] | None = None,
    options: dict[str, Any] | None = None,
) -> bool:
    """Write the statistics of this split to the cache, atomically; True on success.

    ``fingerprint_before`` is :func:`fingerprint` taken before the statistics
    were computed (recommended); without it the files are looked at now.
    Never raises for a cache problem (unwritable folder, full disk).
    """
    sources = _sources(layout)
    try:
        fp = fingerprint_before
        if fp is None:
            fp = fingerprint(layout, sources=sources)
    except OSError:
        return False
    arrays: dict[str, np.ndarray] = {}
    values: dict[str, Any] = {}
    constant: list[str] = []
    for f in dataclasses.fields(stats):
        if not f.metadata.get("cached", True):
            continue
        v = getattr(stats, f.name)
        if isinstance(v, np.ndarray):
            if v.dtype.hasobject:
                return False
            if f.name in COLUMNS and v.ndim == 2 and v.shape[0] > 1 and v.strides[0] == 0:
                constant.append(f.name)  # a broadcast row (labels, valid): stored once
                v = v[:1]
            arrays[f.name] = v
        else:
            values[f.name] = v
    identity = _identity(layout, input_kind, options, sources)
    header = {
        "identity": identity,
        "fingerprint": fp,
        "arrays": sorted(arrays),
        "constant_rows": constant,
        "values": values,
    }
    try:
        blob = json.dumps(header, sort_keys=True, default=_plain).encode()
    except (TypeError, ValueError):
        return False
    path = _entry_path(json.dumps(identity, sort_keys=True))
    if not _usable(layout, sources):
        return False
    try:
        prepare_dir()
        small = {_HEADER: np.frombuffer(blob, np.uint8)}
        write_atomic(path, lambda fh: write_members(fh, small, arrays))
        _drop_superseded(path, identity)
        return True
    except OSError:
        return False


def _plain(value: Any) -> Any:
    """JSON for numpy scalars (``n_clipped`` may be an ``np.int64``)."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot cache a {type(value).__name__}")


def _drop_superseded(kept: Path, identity: dict[str, Any]) -> None:
    """Delete the entries of the same split and files written by another cache format or
    predaudit version: they can never be used again, so a run keeps about one entry."""
    mine = (identity["split"], json.dumps(identity["sources"]))
    current = (identity["cache_version"], identity["predaudit"])
    for e in entries():
        if e.path == kept:
            continue
        other = entry_identity(e.path)
        if other is None:
            continue
        same = (other.get("split"), json.dumps(other.get("sources")))
        if same == mine and (other.get("cache_version"), other.get("predaudit")) != current:
            _unlink(e.path)


def clear() -> int:
    """Delete the cache entries (and temporary files of interrupted writes) that
    :func:`is_entry` verifies as predaudit's; nothing else in the folder is touched.
    Return how many entries went."""
    folder = cache_dir()
    removed = 0
    try:
        if not stat.S_ISDIR(os.lstat(folder).st_mode):  # a link or a file: not ours to walk
            return 0
        names = sorted(os.listdir(folder))
    except OSError:
        return 0
    for name in names:
        p = folder / name
        if is_entry(p):
            if _unlink(p):
                removed += 1
        elif _TMP_NAME.match(name) and stat.S_ISREG(os.lstat(p).st_mode):
            _unlink(p)
    return removed


def _unlink(path: Path) -> bool:
    with contextlib.suppress(OSError):
        path.unlink()
        return True
    return False
