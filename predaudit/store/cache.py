"""A cache of reduced per-sample statistics, so a second look at a run is instant.

One entry per split and score-kind option, under ``$XDG_CACHE_HOME/predaudit``
(``~/.cache/predaudit`` when the variable is unset or not an absolute path). An
entry is an uncompressed ``.npz`` holding the arrays of a
:class:`~predaudit.store.SplitStats` and a JSON header with everything else.

- **Key.** The entry's file name hashes what identifies the work: the cache
  format version, predaudit's version, the fields of ``SplitStats``, the split
  name, its files' resolved paths (with the epoch each came from) and the
  ``input_kind`` option. Inside, the entry records each file's size and
  modification time in nanoseconds; if any differs now, the entry is stale.
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
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from predaudit.io.discover import SplitLayout
from predaudit.output import write_atomic
from predaudit.store.stats import SplitStats
from predaudit.version import __version__

CACHE_VERSION = 1
_SUFFIX = ".npz"
_HEADER = "__header__"


def cache_dir() -> Path:
    """The folder of the cache (not created here)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "predaudit"


def _stats_class() -> type[SplitStats]:
    return SplitStats


def _version() -> str:
    return __version__


def _sources(layout: SplitLayout) -> list[tuple[str, str]]:
    """(role, resolved path) for every file the split's statistics depend on."""
    out: list[tuple[str, str]] = []
    if layout.stacked is not None:
        out.append(("stacked", str(layout.stacked.resolve())))
    out.extend((f"epoch {e}", str(p.resolve())) for e, p in layout.epoch_files)
    if layout.labels_file is not None:
        out.append(("labels", str(layout.labels_file.resolve())))
    if layout.ids_file is not None:
        out.append(("ids", str(layout.ids_file.resolve())))
    out.extend((f"labels {e}", str(p.resolve())) for e, p in sorted(layout.epoch_labels.items()))
    out.extend((f"ids {e}", str(p.resolve())) for e, p in sorted(layout.epoch_ids.items()))
    for e, shards in sorted(layout.epoch_shards.items()):
        out.extend((f"shard {e}", str(p.resolve())) for p in shards[1:])
    return out


def fingerprint(layout: SplitLayout) -> list[list[Any]]:
    """Size and modification time (ns) of each file of the split, in :func:`_sources` order.

    Take it before computing the statistics and pass it to :func:`store`, so a
    file rewritten during the computation leaves a stale entry, not a wrong one.
    Raises ``OSError`` when a file is missing.
    """
    out: list[list[Any]] = []
    for _, path in _sources(layout):
        st = os.stat(path)
        out.append([path, st.st_size, st.st_mtime_ns])
    return out


def _identity(
    layout: SplitLayout, input_kind: str | None, options: dict[str, Any] | None = None
) -> dict[str, Any]:
    fields = [f.name for f in dataclasses.fields(_stats_class())]
    return {
        "cache_version": CACHE_VERSION,
        "predaudit": _version(),
        "fields": fields,
        "split": layout.name,
        "sources": _sources(layout),
        "input_kind": input_kind,
        "options": options or {},
    }


def entry_path(
    layout: SplitLayout, input_kind: str | None, *, options: dict[str, Any] | None = None
) -> Path:
    """Where the entry for this split and these options lives (it may not exist)."""
    text = json.dumps(_identity(layout, input_kind, options), sort_keys=True)
    return cache_dir() / (hashlib.sha256(text.encode()).hexdigest()[:40] + _SUFFIX)


def load_cached(
    layout: SplitLayout, input_kind: str | None, *, options: dict[str, Any] | None = None
) -> SplitStats | None:
    """The cached :class:`~predaudit.store.SplitStats` of this split, or None.

    None when there is no entry, or it is stale (a file changed size or
    modification time), corrupt or from another version; such an entry is
    deleted.
    """
    path = entry_path(layout, input_kind, options=options)
    try:
        current = fingerprint(layout)
    except OSError:
        return None
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as npz:
            header = json.loads(bytes(npz[_HEADER]).decode())
            if header.get("identity") != json.loads(
                json.dumps(_identity(layout, input_kind, options), sort_keys=True)
            ):
                raise ValueError("identity")
            if header.get("fingerprint") != current:
                raise ValueError("stale")
            arrays = {k: npz[k] for k in header["arrays"]}
    except FileNotFoundError:
        return None
    except Exception:  # corrupt, truncated, stale or foreign: drop it, recompute
        _unlink(path)
        return None
    try:
        return _rebuild(layout, header["values"], arrays)
    except Exception:
        _unlink(path)
        return None


def _rebuild(
    layout: SplitLayout, values: dict[str, Any], arrays: dict[str, np.ndarray]
) -> SplitStats:
    cls = _stats_class()
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
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
    try:
        fp = fingerprint_before if fingerprint_before is not None else fingerprint(layout)
    except OSError:
        return False
    arrays: dict[str, np.ndarray] = {}
    values: dict[str, Any] = {}
    for f in dataclasses.fields(stats):
        v = getattr(stats, f.name)
        if isinstance(v, np.ndarray):
            if v.dtype.hasobject:
                return False
            arrays[f.name] = v
        else:
            values[f.name] = v
    header = {
        "identity": _identity(layout, input_kind, options),
        "fingerprint": fp,
        "arrays": sorted(arrays),
        "values": values,
    }
    try:
        blob = json.dumps(header, sort_keys=True, default=_plain).encode()
    except (TypeError, ValueError):
        return False
    path = entry_path(layout, input_kind, options=options)
    members: dict[str, Any] = {_HEADER: np.frombuffer(blob, dtype=np.uint8), **arrays}
    buf = io.BytesIO()
    np.savez(buf, **members)
    try:
        write_atomic(path, buf.getbuffer().tobytes())
        return True
    except OSError:
        return False


def _plain(value: Any) -> Any:
    """JSON for numpy scalars (``n_clipped`` may be an ``np.int64``)."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot cache a {type(value).__name__}")


def clear() -> int:
    """Delete every cache entry (and leftover temporary file); return how many entries went."""
    folder = cache_dir()
    removed = 0
    if not folder.is_dir():
        return 0
    for p in folder.iterdir():
        if p.suffix == _SUFFIX and p.is_file():
            if _unlink(p):
                removed += 1
        elif p.suffix == ".tmp" and p.is_file():
            _unlink(p)
    return removed


def _unlink(path: Path) -> bool:
    with contextlib.suppress(OSError):
        path.unlink()
        return True
    return False
