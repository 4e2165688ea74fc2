"""Temperatures at a few epochs of one split, read again from its files, and cached.

``predaudit analyze`` needs the fitted temperature ``T*`` only at its two compared
epochs, not at every epoch as ``calibration=True`` fits them. :func:`calibrate_epochs`
reads only those epochs again (per-epoch files of the other epochs are not
opened; the rows of a stacked array are mapped lazily and skipped), fits ``T*``
on each (:func:`predaudit.reduce.calibrate.calibrate_epoch`, the same staged fit
as ``calibration=True``: usually one or two float32 passes and one float64 pass, here
without the Brier score's pass at ``T = 1``, which analyze does not use) and
keeps the per-sample loss at it in canonical order.

The result is small (per epoch: ``T*``, the fit's iterations and status, and
``[N]`` losses) and is cached like the statistics (:mod:`predaudit.store.cache`):
one entry per split and score kind, keyed by the files' resolved paths, checked
against their sizes and modification times, holding every epoch fitted so far.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from predaudit.io.discover import SplitLayout
from predaudit.io.load import SplitReader
from predaudit.output import write_atomic
from predaudit.reduce.calibrate import calibrate_epoch
from predaudit.report.vocab import KINDS, InputKind
from predaudit.store import cache
from predaudit.store.cachedir import NotAnEntry, _entry_opener, prepare_dir
from predaudit.store.stats import FIT_STATUS, SplitStats

_HEADER = "__header__"
_OPTIONS_KEY = "temperatures"
ENTRY_VERSION = 1


@dataclass(frozen=True)
class EpochTemperature:
    """One epoch: the fitted ``T*``, how its fit ended, and the per-sample loss at it.

    ``loss_at_t`` is the cross-entropy (nats) at ``temperature`` per row, shape
    ``[N]`` in the statistics' canonical order (sorted ids), NaN where ignored.
    """

    epoch: int
    temperature: float
    iterations: int
    status: str
    loss_at_t: np.ndarray


def calibrate_epochs(
    layout: SplitLayout,
    epochs: Sequence[int],
    *,
    input_kind: InputKind,
    use_cache: bool = False,
    fingerprint: list[list[Any]] | None = None,
) -> dict[int, EpochTemperature]:
    """``T*`` and the per-sample loss at it for each of ``epochs`` of the split at ``layout``.

    ``input_kind`` is the split's score kind (as detected when it was read). With
    ``use_cache`` the fits are taken from, or added to, the cache entry of this split,
    checked against ``fingerprint`` (the files' :func:`~predaudit.store.cache.fingerprint`
    taken before the statistics were read; taken here when None).
    """
    wanted = list(dict.fromkeys(int(e) for e in epochs))
    found: dict[int, EpochTemperature] = {}
    options = _options(layout)
    if use_cache and fingerprint is None:
        try:  # the files as they were before reading, so a change while reading is not cached
            fingerprint = cache.fingerprint(layout)
        except OSError:
            fingerprint = None
    if use_cache and fingerprint is not None:
        found = _load(layout, input_kind, options, fingerprint)
    missing = [e for e in wanted if e not in found]
    if missing:
        before = fingerprint if use_cache else None
        found.update(_fit(layout, missing, input_kind))
        if before is not None:
            _store(layout, input_kind, options, found, before)
    return {e: found[e] for e in wanted}


def split_temperatures(
    stats: SplitStats, epochs: Sequence[int]
) -> dict[int, EpochTemperature] | None:
    """:func:`calibrate_epochs` of ``stats``' split; None when its scores cannot be read again.

    None for statistics without a source (built by hand) and for pre-reduced records.
    """
    src = stats.source
    if src is None or stats.input_kind not in KINDS:
        return None
    kind: InputKind = stats.input_kind  # type: ignore[assignment]
    return calibrate_epochs(
        src.layout, epochs, input_kind=kind, use_cache=src.use_cache, fingerprint=src.fingerprint
    )


def _only(layout: SplitLayout, epochs: Iterable[int]) -> SplitLayout:
    """The layout without the per-epoch files of other epochs (a stacked array stays whole)."""
    keep = set(epochs)
    if layout.stacked is not None or not layout.epoch_files:
        return layout
    return replace(layout, epoch_files=tuple((e, p) for e, p in layout.epoch_files if e in keep))


def _fit(
    layout: SplitLayout, epochs: Sequence[int], kind: InputKind
) -> dict[int, EpochTemperature]:
    wanted = set(epochs)
    out: dict[int, EpochTemperature] = {}
    for ep in SplitReader(_only(layout, wanted)):
        if ep.epoch not in wanted:
            del ep  # a stacked row that is only mapped, never read
            continue
        c = calibrate_epoch(ep.scores, ep.labels, kind=kind, dtype=ep.scores_dtype, brier=False)
        order = ep.order if ep.order is not None else slice(None)
        fit = c.fit
        out[ep.epoch] = EpochTemperature(
            epoch=ep.epoch,
            temperature=c.temperature,
            iterations=fit.iterations if fit is not None else 0,
            status=fit.status if fit is not None else "given",
            loss_at_t=np.ascontiguousarray(c.loss_at_t[order]),
        )
        del ep, c  # release this epoch's scores before the reader maps the next
        if len(out) == len(wanted):
            break
    absent = wanted - set(out)
    if absent:
        raise ValueError(f"split {layout.name!r} has no epoch {min(absent)}")
    return out


# -- the cache entry ------------------------------------------------------------------------


def _options(layout: SplitLayout) -> dict[str, Any]:
    options: dict[str, Any] = {_OPTIONS_KEY: ENTRY_VERSION}
    if layout.layout is not None:
        options["layout"] = layout.layout
    return options


def _load(
    layout: SplitLayout, kind: str, options: dict[str, Any], current: list[list[Any]]
) -> dict[int, EpochTemperature]:
    """The fits in the cache entry of this split (files as ``current`` fingerprints them);
    empty when absent, stale or corrupt."""
    path = cache.entry_path(layout, kind, options=options)
    if not cache._usable(layout):  # a cache folder inside the run is not used
        return {}
    identity = json.loads(json.dumps(cache._identity(layout, kind, options), sort_keys=True))
    try:
        with open(path, "rb", opener=_entry_opener) as fh, np.load(fh, allow_pickle=False) as npz:
            header = json.loads(bytes(npz[_HEADER]).decode())
            if header.get("identity") != identity or header.get("fingerprint") != current:
                raise ValueError("stale")
            loss = np.asarray(npz["loss_at_t"], dtype=np.float64)
        epochs = [int(e) for e in header["epochs"]]
        t, it, status = header["temperature"], header["iterations"], header["status"]
        if loss.ndim != 2 or not (loss.shape[0] == len(epochs) == len(t) == len(it) == len(status)):
            raise ValueError("shapes")
        if any(s not in FIT_STATUS for s in status):
            raise ValueError("status")
        if not all(isinstance(x, float) and 0 < x < math.inf for x in t):
            raise ValueError("temperature")
        with np.errstate(invalid="ignore"):
            if (loss < 0).any() or np.isneginf(loss).any():
                raise ValueError("loss out of range")
        return {
            e: EpochTemperature(e, float(t[k]), int(it[k]), str(status[k]), loss[k])
            for k, e in enumerate(epochs)
        }
    except (FileNotFoundError, NotAnEntry):  # absent, or not ours to delete
        return {}
    except Exception:  # corrupt, truncated, stale or foreign: drop it, fit again
        cache._unlink(path)
        return {}


def _store(
    layout: SplitLayout,
    kind: str,
    options: dict[str, Any],
    fits: dict[int, EpochTemperature],
    fingerprint: list[list[Any]],
) -> bool:
    """Write every fit of this split into its entry, atomically; True on success."""
    epochs = sorted(fits)
    header = {
        "identity": cache._identity(layout, kind, options),
        "fingerprint": fingerprint,
        "epochs": epochs,
        "temperature": [fits[e].temperature for e in epochs],
        "iterations": [fits[e].iterations for e in epochs],
        "status": [fits[e].status for e in epochs],
    }
    try:
        blob = json.dumps(header, sort_keys=True).encode()
        loss = np.stack([fits[e].loss_at_t for e in epochs])
    except (TypeError, ValueError):
        return False
    buf = io.BytesIO()
    members: dict[str, Any] = {_HEADER: np.frombuffer(blob, dtype=np.uint8), "loss_at_t": loss}
    np.savez(buf, **members)
    if not cache._usable(layout):
        return False
    try:
        prepare_dir()
        write_atomic(cache.entry_path(layout, kind, options=options), buf.getbuffer().tobytes())
        return True
    except OSError:
        return False
