"""``Recorder``: save a run from any training loop, one batch at a time.

>>> import numpy as np, tempfile, predaudit
>>> out = tempfile.mkdtemp()
>>> rec = predaudit.Recorder(out, split="val")
>>> for epoch in (1, 2):
...     with rec.epoch(epoch):
...         rec.add(np.array([[2.0, 0.0], [0.0, 1.0]]), np.array([0, 1]), ids=[7, 3])
...         rec.add(np.array([[0.5, 0.0]]), np.array([1]), ids=[5])
>>> [p.name for p in sorted((rec.folder).iterdir())]
['epoch_0001.npz', 'epoch_0002.npz']
>>> run = predaudit.load_run(out)
>>> run.splits["val"].epochs, run.splits["val"].n_samples
([1, 2], 3)
"""

from __future__ import annotations

import json
import operator
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from predaudit.errors import InputError, OptionError
from predaudit.io.discover import parse_name
from predaudit.io.naming import META_KEY, SUFFIXES, epoch_file_name
from predaudit.record.buffer import Column, dtype_name, to_numpy
from predaudit.record.npzwrite import write_npz
from predaudit.report.vocab import KINDS
from predaudit.version import __version__

FORMAT = "predaudit.recorder/1"


class EpochExistsError(InputError, FileExistsError):
    """The epoch was already recorded (pass ``overwrite=True`` to replace it)."""


def distributed_rank() -> tuple[int, int]:
    """(rank, world size) of a running ``torch.distributed``, else (0, 1); never imports torch."""
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        return int(dist.get_rank()), int(dist.get_world_size())
    return 0, 1


class Recorder:
    """Collect one split's predictions batch by batch and write one file per epoch.

    ``Recorder(out_dir, split="val")`` writes ``out_dir/val/epoch_0003.npz`` (keys
    ``logits`` — or ``probs``/``log_probs`` after ``kind`` —, ``labels``, ``ids``, and a
    JSON ``__meta__`` member the readers skip) at each :meth:`end_epoch`; ``out_dir``
    is then a run ``predaudit analyze`` and :func:`predaudit.load_run` read.

    Per batch, :meth:`add` takes scores ``[B, C]`` (or ``[B]``, one binary score),
    labels ``[B]`` (class indices, ``-100`` for an ignored sample) or ``[B, C]``
    (one-hot or soft targets), and sample ids ``[B]`` (integers or text), as numpy
    arrays, torch tensors on any device (detached, copied to the CPU batch by batch)
    or lists. The scores keep their dtype (float16 stays float16) except bfloat16,
    which numpy lacks: it is saved as float32, exactly. Token classification: scores
    ``[B, T, C]`` with labels ``[B, T]`` are recorded as ``B*T`` samples (``-100``
    positions kept, and ignored by the analyses), token ``t`` of sequence ``id``
    getting the id ``id * T + t``; every batch must then be padded to the same ``T``
    (or flatten the tokens yourself and pass one id per token).

    Ids make epochs comparable sample by sample, whatever order the batches arrive
    in: the rows are written sorted by id. Without ids the recorder numbers the
    samples in arrival order (0, 1, …) only with ``ordered=True``, a promise that
    every epoch sees the samples in the same order (no shuffling); otherwise ids are
    required.

    Memory: one epoch of scores at most (the batches are copied into one buffer, sized
    after the previous epoch; nothing is kept between epochs). Files are written
    atomically (a hidden temporary file moved into place): a crash leaves no partial
    epoch (``fsync=True`` also flushes each file to the disk before moving it, so that
    it survives a power cut; a few milliseconds per epoch). A folder that already holds
    epochs is continued; recording an epoch that exists raises :class:`EpochExistsError`
    (a ``FileExistsError`` and an :class:`~predaudit.InputError`) unless
    ``overwrite=True``.

    Distributed (``torch.distributed`` initialised with several processes): each
    process writes its own shard, ``epoch_0003.rank1.npz``; reading merges the
    shards by id and drops the duplicates ``DistributedSampler`` adds to even out
    the ranks. Ids are then required. ``sharded=False`` writes one whole file per
    epoch instead (when the caller has already gathered the predictions: then call
    the recorder on one process only); ``sharded=True`` always writes shards.
    """

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        split: str = "val",
        *,
        kind: str = "logits",
        ordered: bool = False,
        overwrite: bool = False,
        compress: bool = False,
        sharded: bool | None = None,
        fsync: bool = False,
    ) -> None:
        if kind not in KINDS:
            raise OptionError(f"expected one of {', '.join(KINDS)}", param="kind", value=repr(kind))
        if not split or split != Path(split).name or split.startswith((".", "_")):
            raise OptionError(
                "a split is one folder name, not starting with '.' or '_'",
                param="split",
                value=repr(split),
            )
        self.out_dir = Path(out_dir)
        self.split = split
        self.folder = self.out_dir / split
        self.kind = kind
        self.ordered = ordered
        self.overwrite = overwrite
        self.compress = compress
        self.sharded = sharded
        self.fsync = fsync
        self._capacity = 0
        self._files: dict[int, set[Path]] | None = None  # epoch -> its files, from a scan
        self._scanned = -1  # the folder's mtime (ns) when scanned or last written by us
        self._reset()

    def _reset(self) -> None:
        self._scores = Column(self._capacity)
        self._labels = Column(self._capacity)
        self._ids = Column(self._capacity)
        self._batches = 0
        self._seen = 0  # samples (sequences) added this epoch
        self._auto_ids: bool | None = None
        self._dtype = ""
        self._batch_kind: tuple[Any, ...] = ()
        self._tokens: int | None = None

    # -- batches ---------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Samples added since the last epoch was written."""
        return self._scores.n

    def add(self, scores: Any, labels: Any, ids: Any = None) -> None:
        """Add one batch: scores ``[B, C]``/``[B]``/``[B, T, C]``, labels, optional ids ``[B]``."""
        s = to_numpy(scores)
        y = to_numpy(labels)
        i = None if ids is None else to_numpy(ids)
        self._batches += 1
        b = self._batches
        if s.ndim == 0 or s.ndim > 3 or s.dtype.kind not in "fiu":
            raise self._batch_error(
                f"scores have shape {s.shape} and dtype {s.dtype}; expected "
                "numbers of shape [B, C] or [B]"
            )
        n_seq = s.shape[0]
        if i is None:
            if not self.ordered:
                raise OptionError(
                    "give each sample's id, or pass ordered=True to Recorder() when every "
                    "epoch sees the samples in the same order",
                    param="ids",
                    value="None",
                )
            if self.sharded is not False and distributed_rank()[1] > 1:
                raise OptionError(
                    "every process numbers its own samples: under torch.distributed give each "
                    "sample's id (e.g. the dataset index)",
                    param="ids",
                    value="None",
                )
            i = np.arange(self._seen, self._seen + n_seq, dtype=np.int64)
        if self._auto_ids is not None and self._auto_ids != (ids is None):
            raise self._batch_error("some batches of this epoch have ids, others not")
        self._auto_ids = ids is None
        if s.ndim == 3:
            s, y, i = self._tokens_as_samples(s, y, i, b)
        if y.shape[:1] != s.shape[:1] or y.ndim not in (1, 2):
            raise self._batch_error(f"labels have shape {y.shape} for scores of shape {s.shape}")
        if i.ndim != 1 or i.shape[0] != s.shape[0]:
            raise self._batch_error(f"ids have shape {i.shape} for {s.shape[0]} samples")
        kind = (s.shape[1:], y.shape[1:], s.dtype)
        if self._scores.n == 0:
            self._dtype, self._batch_kind = dtype_name(scores), kind
        elif kind != self._batch_kind:
            self._check_like_before(s, y, scores)
        self._scores.append(s)
        self._labels.append(y)
        self._ids.append(i)
        self._seen += n_seq

    def _check_like_before(self, s: np.ndarray, y: np.ndarray, scores: Any) -> None:
        shape_s, shape_y, dtype = self._batch_kind
        for what, arr, before in (("scores", s, shape_s), ("labels", y, shape_y)):
            if arr.shape[1:] != before:
                raise self._batch_error(
                    f"{what} have shape {arr.shape} but earlier batches {(None, *before)}"
                )
        raise self._batch_error(
            f"scores are {dtype_name(scores)} but earlier batches were {self._dtype}"
        )

    def _batch_error(self, problem: str) -> InputError:
        return InputError(self.folder / "<batches>", f"batch {self._batches}: {problem}")

    def _tokens_as_samples(
        self, s: np.ndarray, y: np.ndarray, i: np.ndarray, b: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        where = self.folder / "<batches>"
        n, t, c = s.shape
        if y.shape != (n, t):
            raise InputError(where, f"batch {b}: token labels have shape {y.shape}, not {(n, t)}")
        if self._tokens is not None and t != self._tokens:
            raise InputError(
                where,
                f"batch {b}: {t} tokens per sequence but {self._tokens} before; pad every batch "
                "to the same length, or flatten the tokens and pass one id per token",
            )
        self._tokens = t
        if i.shape == (n, t):
            return s.reshape(n * t, c), y.reshape(n * t), i.reshape(n * t)
        if i.shape != (n,) or i.dtype.kind not in "iu":
            raise InputError(
                where, f"batch {b}: token scores need integer sequence ids [B] (got {i.shape})"
            )
        tok = i.astype(np.int64)[:, None] * t + np.arange(t, dtype=np.int64)
        return s.reshape(n * t, c), y.reshape(n * t), tok.reshape(n * t)

    def _move_pending(self, other: Recorder) -> None:
        """Hand the batches added so far to ``other`` (the callbacks' sibling splits)."""
        other.discard()
        for name in ("_scores", "_labels", "_ids", "_batches", "_seen", "_auto_ids", "_dtype"):
            setattr(other, name, getattr(self, name))
        other._tokens = self._tokens
        self._reset()

    def discard(self) -> None:
        """Drop the batches added since the last epoch (an interrupted evaluation)."""
        self._reset()

    # -- epochs ----------------------------------------------------------------------------

    def _rank(self) -> tuple[int | None, int]:
        if self.sharded is False:
            return None, 1
        rank, world = distributed_rank()
        if world > 1 or self.sharded:
            return rank, world
        return None, 1

    def path_for(self, epoch: int, rank: int | None = None) -> Path:
        """The file of ``epoch`` (of one process's shard with ``rank``)."""
        return self.folder / epoch_file_name(epoch, rank)

    def _epoch_files(self) -> dict[int, set[Path]]:
        """The folder's files by epoch, scanned again only when someone else changed it."""
        mtime = self.folder.stat().st_mtime_ns
        if self._files is None or mtime != self._scanned:
            self._scanned = mtime
            self._files = {}
            for p in sorted(self.folder.iterdir()):
                if p.name.startswith((".", "_")) or p.suffix.lower() not in SUFFIXES:
                    continue
                named = parse_name(p)
                if named.epoch is not None and named.prefix is None:
                    self._files.setdefault(named.epoch, set()).add(p)
        return self._files

    def _check_free(self, epoch: int, path: Path, rank: int | None) -> None:
        known = self._epoch_files().setdefault(epoch, set())
        if path.exists():
            known.add(path)
        for p in sorted(known):
            if not p.exists():
                known.discard(p)
                continue
            named = parse_name(p)
            if rank is not None and named.rank is not None and named.rank != rank:
                continue  # another process's shard of the same epoch
            if p == path and self.overwrite:
                continue
            hint = "; pass overwrite=True to replace it" if p == path else ""
            raise EpochExistsError(p, f"epoch {epoch} of split '{self.split}' exists{hint}")

    def end_epoch(self, epoch: int) -> Path:
        """Write the batches added since the last epoch as ``epoch``; return the file.

        The batches are dropped afterwards, also when writing fails.
        """
        epoch = operator.index(epoch)
        if epoch < 0:
            raise OptionError("epochs are labelled 0, 1, 2, …", param="epoch", value=str(epoch))
        rank, world = self._rank()
        path = self.path_for(epoch, rank)
        try:
            if self._scores.n == 0:
                raise InputError(path, f"epoch {epoch} has no samples: add() batches first")
            self.folder.mkdir(parents=True, exist_ok=True)
            self._check_free(epoch, path, rank)
            self._write(path, epoch, rank, world)
            if self._files is not None:
                self._files.setdefault(epoch, set()).add(path)
            self._scanned = self.folder.stat().st_mtime_ns
        finally:
            self._capacity = self._scores.n
            self._reset()
        return path

    @contextmanager
    def epoch(self, epoch: int) -> Iterator[Recorder]:
        """``with rec.epoch(3): rec.add(...)``: written on exit, discarded on an exception."""
        if self._batches:
            raise InputError(
                self.folder, f"{self._batches} batches were added before epoch({epoch}) began"
            )
        try:
            yield self
        except BaseException:
            self.discard()
            raise
        self.end_epoch(epoch)

    def _write(self, path: Path, epoch: int, rank: int | None, world: int) -> None:
        scores, labels, ids = self._scores.view(), self._labels.view(), self._ids.view()
        order: np.ndarray | None = None
        if ids.shape[0] > 1 and not bool(np.all(ids[1:] > ids[:-1])):
            order = np.argsort(ids, kind="stable")
            order = self._drop_duplicates(path, epoch, order, scores, labels, ids, rank)
        meta = {
            "format": FORMAT,
            "predaudit": __version__,
            "split": self.split,
            "epoch": epoch,
            "kind": self.kind,
            "dtype": self._dtype,
            "saved_dtype": str(scores.dtype),
            "n_samples": int(ids.shape[0] if order is None else order.shape[0]),
        }
        if self._tokens is not None:
            meta["tokens_per_sequence"] = self._tokens
        if rank is not None:
            meta.update(rank=rank, world_size=world)
        arrays = [
            (self.kind, scores),
            ("labels", labels),
            ("ids", ids),
            (META_KEY, np.array(json.dumps(meta, sort_keys=True))),
        ]
        write_npz(
            path,
            arrays,
            order=order,
            compress=self.compress,
            unordered=(META_KEY,),
            fsync=self.fsync,
        )

    @staticmethod
    def _drop_duplicates(
        path: Path,
        epoch: int,
        order: np.ndarray,
        scores: np.ndarray,
        labels: np.ndarray,
        ids: np.ndarray,
        rank: int | None,
    ) -> np.ndarray:
        sorted_ids = ids[order]
        dup = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1]) + 1
        if dup.size == 0:
            return order
        from predaudit.io.shards import _same
        from predaudit.io.validate import _show

        for pos in dup:
            a, b = order[pos - 1], order[pos]
            padded = _same(scores[a], scores[b]) and _same(labels[a], labels[b])
            if rank is None or not padded:
                what = "twice" if rank is None else "twice with different values"
                raise InputError(
                    path, f"sample id {_show(sorted_ids[pos])} was added {what} at epoch {epoch}"
                )
        keep = np.ones(order.shape[0], dtype=bool)
        keep[dup] = False
        return order[keep]
