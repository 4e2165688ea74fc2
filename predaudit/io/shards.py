"""Epochs written by several processes: one shard file per rank, merged by sample id.

Distributed evaluation writes ``epoch_0003.rank0.npz``, ``epoch_0003.rank1.npz``, …
(:class:`predaudit.Recorder` under ``torch.distributed``). Discovery groups the
shards of an epoch into one epoch; :class:`ShardContainer` stands in for them as
one file: it reads every shard, orders the rows by sample id and drops the
duplicates ``DistributedSampler`` padding adds (the same id with the same scores
and label). The same id with different values is an input error naming both
files. Only one epoch is merged at a time, and the merged arrays are released
when the reader closes the epoch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from predaudit.errors import InputError
from predaudit.io.container import Container
from predaudit.io.formats import open_container
from predaudit.io.naming import CONTAINERS, ID_KEYS, LABEL_KEYS, META_KEY
from predaudit.io.validate import _find_key, _scores_key, _show


@dataclass(frozen=True)
class _Merged:
    keys: tuple[str, str, str]  # scores, labels, ids
    arrays: dict[str, np.ndarray]
    dtypes: dict[str, str]


def read_meta(c: Container) -> dict[str, Any]:
    """The recorder's metadata of an open file (``{}`` when it has none or it is unreadable)."""
    if META_KEY not in c.keys():
        return {}
    try:
        meta = json.loads(str(np.asarray(c.read(META_KEY))[()]))
    except (ValueError, TypeError):
        return {}
    return meta if isinstance(meta, dict) else {}


class ShardContainer(Container):
    """The shards of one epoch read as one file (``path`` is the first shard's)."""

    def __init__(self, epoch: int, shards: tuple[tuple[int, Path], ...]) -> None:
        self.epoch = epoch
        self.shards = shards
        self.path = shards[0][1]
        self._merged: _Merged | None = None

    # -- the Container interface -----------------------------------------------------------

    def keys(self) -> list[str]:
        return list(self._get().keys)

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(int(s) for s in self._get().arrays[key].shape)

    def dtype_name(self, key: str) -> str:
        return self._get().dtypes[key]

    def read(self, key: str) -> np.ndarray:
        return self._get().arrays[key]

    def close(self) -> None:
        self._merged = None  # the reader closes each epoch: release its rows

    # -- merging ---------------------------------------------------------------------------

    def _get(self) -> _Merged:
        if self._merged is None:
            self._merged = self._merge()
        return self._merged

    def _read_shard(self, path: Path) -> tuple[tuple[str, str, str], list[np.ndarray], str, dict]:
        c = open_container(path)
        try:
            skey = _scores_key(c)
            lkey = _find_key(c, LABEL_KEYS, "label")
            ikey = _find_key(c, ID_KEYS, "id")
            if lkey is None:
                raise InputError(path, "is a shard without labels")
            if ikey is None:
                raise InputError(path, "is a shard without sample ids; shards are merged by id")
            arrays = [np.asarray(c.read(k)) for k in (skey, lkey, ikey)]
            return (skey, lkey, ikey), arrays, c.dtype_name(skey), read_meta(c)
        finally:
            c.close()

    def _check_ranks(self, metas: list[dict]) -> None:
        sizes = {int(m["world_size"]) for m in metas if isinstance(m.get("world_size"), int)}
        if len(sizes) > 1:
            raise InputError(
                ", ".join(str(p) for _, p in self.shards),
                f"the shards of epoch {self.epoch} disagree on the number of processes "
                f"({', '.join(str(s) for s in sorted(sizes))})",
            )
        if sizes:
            world = sizes.pop()
            have = {r for r, _ in self.shards}
            missing = sorted(set(range(world)) - have)
            if missing:
                raise InputError(
                    self.path,
                    f"epoch {self.epoch} was written by {world} processes but the shard of rank "
                    f"{missing[0]} is missing",
                )

    def _merge(self) -> _Merged:
        keys: tuple[str, str, str] | None = None
        parts: list[list[np.ndarray]] = [[], [], []]
        source: list[np.ndarray] = []
        dtype = ""
        metas = []
        first = self.path
        for i, (_, path) in enumerate(self.shards):
            k, arrays, d, meta = self._read_shard(path)
            metas.append(meta)
            if keys is None:
                keys, dtype = k, d
            elif k[0] != keys[0] or d != dtype:
                raise InputError(
                    f"{first}, {path}",
                    f"the shards of epoch {self.epoch} hold different scores "
                    f"('{keys[0]}' {dtype}, '{k[0]}' {d})",
                )
            for j, (a, ref) in enumerate(zip(arrays, parts, strict=True)):
                if ref and a.shape[1:] != ref[0].shape[1:]:
                    raise InputError(
                        f"{first}, {path}",
                        f"the shards of epoch {self.epoch} have {keys[j]} of shapes "
                        f"{ref[0].shape} and {a.shape}",
                    )
                if a.shape[:1] != arrays[0].shape[:1]:
                    raise InputError(
                        path, f"{keys[j]} has {a.shape[0]} rows but scores have {len(arrays[0])}"
                    )
                ref.append(a)
            source.append(np.full(len(arrays[0]), i, dtype=np.int32))
        assert keys is not None
        self._check_ranks(metas)
        scores, labels, ids = (np.concatenate(p) for p in parts)
        del parts
        src = np.concatenate(source)
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        dup = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1]) + 1
        for pos in dup:
            a, b = order[pos - 1], order[pos]
            same = _same(scores[a], scores[b]) and _same(labels[a], labels[b])
            if not same:
                pa, pb = self.shards[src[a]][1], self.shards[src[b]][1]
                what = "scores" if not _same(scores[a], scores[b]) else "labels"
                where = f"{pa}, {pb}" if pa != pb else str(pa)
                raise InputError(
                    where,
                    f"sample id {_show(sorted_ids[pos])} has different {what} in two shards "
                    f"of epoch {self.epoch}",
                )
        keep = np.ones(len(order), dtype=bool)
        keep[dup] = False
        order = order[keep]
        merged = {keys[0]: scores[order], keys[1]: labels[order], keys[2]: ids[order]}
        dtypes = {keys[0]: dtype, keys[1]: str(labels.dtype), keys[2]: str(ids.dtype)}
        return _Merged(keys=keys, arrays=merged, dtypes=dtypes)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal rows (NaN equal to NaN: the same padded sample evaluated twice)."""
    if a.dtype.kind == "f":
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


def group_shards(
    name: str, shards: dict[int, list[tuple[int, Path]]], epochs: dict[int, Path]
) -> dict[Path, Container]:
    """Put each sharded epoch into ``epochs`` (its first shard's path); return their containers.

    ``shards`` maps epoch -> [(rank, path)]; ``epochs`` the epochs of unsharded files.
    """
    containers: dict[Path, Container] = {}
    for epoch, members in sorted(shards.items()):
        members = sorted(members)
        if epoch in epochs:
            raise InputError(
                f"{epochs[epoch]}, {members[0][1]}",
                f"split '{name}' has epoch {epoch} both whole and in shards; keep one",
            )
        for (r1, p1), (r2, p2) in zip(members, members[1:], strict=False):
            if r1 == r2:
                raise InputError(f"{p1}, {p2}", f"both files are the shard of rank {r1}")
        for _, p in members:
            if p.suffix.lower() not in CONTAINERS:
                raise InputError(p, "a shard must be one file holding scores, labels and ids")
        epochs[epoch] = members[0][1]
        containers[members[0][1]] = ShardContainer(epoch, tuple(members))
    return containers
