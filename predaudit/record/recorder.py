"""``Recorder``: save a run from any training loop, one batch at a time.

>>> import numpy as np, tempfile, predaudit
>>> out = tempfile.mkdtemp()
>>> rec = predaudit.Recorder(out, split="val")
>>> for epoch in (1, 2):
...     with rec.epoch(epoch):
...         rec.add(np.array([[2.0, 0.0], [0.0, 1.0]]), np.array([0, 1]), ids=[7, 3])
...         rec.add(np.array([[0.5, 0.0]]), np.array([1]), ids=[5])
>>> run = predaudit.load_run(out)  # (it lets the writes under way finish first)
>>> run.splits["val"].epochs, run.splits["val"].n_samples
([1, 2], 3)
>>> rec.close()  # waits for the files
>>> [p.name for p in sorted((rec.folder).iterdir())]
['epoch_0001.npz', 'epoch_0002.npz']
"""

from __future__ import annotations

import operator
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from predaudit.errors import InputError, OptionError
from predaudit.io.naming import epoch_file_name
from predaudit.record import buffer, epochfile
from predaudit.record.background import Background
from predaudit.record.buffer import Batches, keep
from predaudit.record.epochfile import exists_error
from predaudit.record.forms import BatchForms
from predaudit.report.vocab import KINDS
from predaudit.version import __version__

FORMAT = epochfile.FORMAT


class Recorder(BatchForms):
    """Collect one split's predictions batch by batch and write one file per epoch.

    ``Recorder(out_dir, split="val")`` writes ``out_dir/val/epoch_0003.npz`` (keys
    ``logits`` — or ``probs``/``log_probs`` after ``kind`` —, ``labels``, ``ids``, a JSON
    ``__meta__``) for each :meth:`end_epoch`: a run ``predaudit analyze`` reads.

    Per batch, :meth:`add` takes scores ``[B, C]`` (or ``[B]``, one binary score),
    labels ``[B]`` (class indices, ``-100`` for an ignored sample) or ``[B, C]``
    (one-hot or soft targets), and sample ids ``[B]`` (integers or text), as numpy
    arrays, torch tensors on any device or lists. The scores keep their dtype
    (float16 stays float16) except bfloat16, which numpy lacks: it is saved as
    float32, exactly. Token classification: scores ``[B, T, C]`` with labels ``[B, T]``
    are recorded as ``B*T`` samples (``-100`` positions kept, and ignored by the
    analyses), token ``t`` of sequence ``id`` getting the id ``id * T + t``; every batch
    must then be padded to the same ``T`` (or flatten the tokens yourself and pass one
    id per token).

    Ids make epochs comparable sample by sample, whatever order the batches arrive
    in: the rows are written sorted by id. Without ids the recorder numbers the
    samples in arrival order (0, 1, …) only with ``ordered=True``, a promise that
    every epoch sees the samples in the same order (no shuffling); otherwise ids are
    required.

    Cost and memory: :meth:`add` only checks a batch whose shapes or types differ from
    those it checked before (it then compares them with the epoch's); batches of CPU
    tensors like the last it checked (an epoch's full batches and its shorter last one)
    are only compared with them, from one epoch to the next. It keeps a batch without
    converting it — a CPU tensor as it is (no copy; changing it in place afterwards is
    an error at :meth:`end_epoch`, so pass a copy of a buffer you reuse), a tensor on
    another device copied to the CPU, a numpy array copied. So about one epoch of scores
    is held: :meth:`end_epoch` joins the kept batches (into runs of a few MiB when
    written in the loop's thread, releasing them as it goes), and no batch is kept
    between epochs. Files are written atomically (a hidden temporary file moved into
    place): a crash leaves no partial epoch (``fsync=True`` also flushes each file to
    the disk before moving it, so that it survives a power cut; a few milliseconds per
    epoch).

    By default (``background=True``) each epoch is written while training goes on, by
    a writer process (on Linux: the epoch's arrays are copied into memory it shares,
    given back once written if 4 MiB or more; it has an interpreter lock of its own;
    started with the first recorder, shared by all) or else a writer thread, at most one
    epoch at a time: :meth:`end_epoch` returns at once and the file appears when
    written. A write's error (a duplicate id: the writer sorts the rows) is raised by the
    next :meth:`end_epoch`, :meth:`flush` or :meth:`close` (or :meth:`add`, which looks
    every 8 batches). :meth:`flush` waits for the files, as reading the run in this process
    does (:func:`predaudit.load_run`); the interpreter's exit finishes them, printing a
    failure nobody was told of on stderr. ``background=False`` writes in :meth:`end_epoch`
    (about three times the loop's time: see the README's Performance).

    A folder that already holds epochs is continued; recording an epoch that exists
    raises :class:`EpochExistsError` (a ``FileExistsError`` and an
    :class:`~predaudit.InputError`) unless ``overwrite=True``: at once for an epoch this
    recorder wrote or saw, and when the file is written for one another writer put there
    since (with ``background=True``, like any error of the write, by the next call).

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
        background: bool = True,
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
        self.background = background
        self._files = epochfile.EpochFiles(self.folder)
        self._where = self.folder / "<batches>"  # what errors about the batches name
        self._background = Background(self._files) if background else None
        self._checked: dict[tuple[Any, ...], tuple[Any, str, bool, bool]] = {}  # see _known
        self._quick = ()  # see BatchForms
        self._paths: dict[tuple[int, int | None], Path] = {}  # see _path
        self._last_epoch: int | None = None
        self._reset()

    def _reset(self) -> None:
        """A new epoch (or none): its batches are dropped; the forms of :meth:`add`'s quick
        path stay, provisionally (see :class:`~predaudit.record.forms.BatchForms`)."""
        self._epoch = Batches(self._where)
        self._batches = 0
        self._tokens = None
        if self._quick and self._auto_ids is False:  # (numbering samples is looked at anew)
            self._epoch.form = self._quick[0][-1]
            self._key = None  # any other form is looked up (Batches.note)
        else:
            self._fresh()

    # -- batches ---------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Samples added since the last epoch was written."""
        return self._epoch.n

    def add(self, scores: Any, labels: Any, ids: Any = None) -> None:
        """Add one batch: scores ``[B, C]``/``[B]``/``[B, T, C]``, labels, optional ids ``[B]``."""
        if self._background is not None and not self._batches & 7 and self._background.done():
            self._wait()  # a finished write's error: looked for every 8 batches
        for quick in self._quick:  # the usual case (see BatchForms): nothing else looked at
            ts, ss, ds, tl, sl, dl, ti, si, di, rows, _ = quick
            if (
                type(scores) is ts
                and type(labels) is tl
                and type(ids) is ti
                and scores.shape == ss
                and scores.dtype is ds  # (torch's dtypes are singletons)
                and labels.shape == sl
                and labels.dtype is dl
                and scores.is_cpu
                and labels.is_cpu
                and not scores.requires_grad
                and (ids is None or (ids.shape == si and ids.dtype is di and ids.is_cpu))
            ):
                self._batches += 1
                ep = self._epoch
                ep.held.append(  # Batches.hold, inlined: a call a batch costs the loop
                    (
                        scores,
                        labels,
                        ids,
                        self._batches,
                        scores._version,
                        labels._version,
                        -1 if ids is None else ids._version,
                    )
                )
                ep.n += rows
                return
        try:
            key: tuple[Any, ...] | None = (
                type(scores),
                scores.shape,
                scores.dtype,
                type(labels),
                labels.shape,
                labels.dtype,
                None if ids is None else (type(ids), ids.shape, ids.dtype),
            )
        except AttributeError:  # lists
            key = None
        self._batches += 1
        if key is None or (key != self._key and not self._known(key)):
            self._add_checked(scores, labels, ids, key)
            return
        ep = self._epoch
        if (  # CPU tensors without autograd history (float labels, say): held as they are
            self._tensors
            and scores.is_cpu
            and labels.is_cpu
            and not scores.requires_grad
            and (ids is None or ids.is_cpu)
            and not (  # (integer labels and ids cannot require grad: not looked at)
                self._grads and (labels.requires_grad or (ids is not None and ids.requires_grad))
            )
        ):
            ep.hold(self._batches, scores, labels, ids)
        else:
            ep.hold(self._batches, keep(scores), keep(labels), None if ids is None else keep(ids))
        ep.n += key[1][0]

    def _move_pending(self, other: Recorder) -> None:
        """Hand the batches added so far to ``other`` (the callbacks' sibling splits)."""
        other.discard()
        names = ("_epoch", "_key", "_batches", "_auto_ids", "_dtype", "_tails", "_tokens")
        for name in (*names, "_tensors", "_grads", "_quick"):
            setattr(other, name, getattr(self, name))
        self._reset()

    def discard(self) -> None:
        """Drop the batches added since the last epoch (an interrupted evaluation)."""
        self._reset()

    # -- epochs ----------------------------------------------------------------------------

    def _rank(self) -> tuple[int | None, int]:
        if self.sharded is False:
            return None, 1
        rank, world = buffer.distributed_rank()  # one lookup point (tests fake it there)
        if world > 1 or self.sharded:
            return rank, world
        return None, 1

    def path_for(self, epoch: int, rank: int | None = None) -> Path:
        """The file of ``epoch`` (of one process's shard with ``rank``)."""
        return self.folder / epoch_file_name(epoch, rank)

    def _path(self, epoch: int, rank: int | None) -> Path:
        """:meth:`path_for`, made ahead 16 at a time at the epochs' stride so far (1, 2, …;
        a global step's): made alone at the end of an epoch, each ``Path`` cost the
        training loop's evaluation about half a point (the README's Performance)."""
        path = self._paths.get((epoch, rank))
        if path is None:
            last = self._last_epoch
            step = epoch - last if last is not None and epoch > last else 1
            ahead = range(epoch, epoch + 16 * step, step)
            self._paths = {(e, rank): self.path_for(e, rank) for e in ahead}
            path = self._paths[epoch, rank]
        self._last_epoch = epoch
        return path

    def end_epoch(self, epoch: int) -> Path:
        """Write the batches added since the last epoch as ``epoch``; return the file.

        The batches are dropped afterwards, also when writing fails. With
        ``background=True`` (the default) the file is written in the writer process or
        thread (see the class docs); if the previous epoch's write failed, its error is
        raised first and the batches are kept.
        """
        epoch = operator.index(epoch)
        self._wait()  # the previous epoch's write: its error, and one epoch written at a time
        batches, dtype, tokens = self._epoch, self._dtype, self._tokens
        self._reset()
        if epoch < 0:
            raise OptionError("epochs are labelled 0, 1, 2, …", param="epoch", value=str(epoch))
        rank, world = self._rank()
        path = self._path(epoch, rank)
        if not batches.held:
            raise InputError(path, f"epoch {epoch} has no samples: add() batches first")
        known = self._files.known(epoch, path, rank, overwrite=self.overwrite)
        if known is not None:  # without looking at the disk: the job looks there again
            raise exists_error(known, path, epoch, self.split)
        meta: dict[str, Any] = {
            "format": FORMAT,
            "predaudit": __version__,
            "split": self.split,
            "epoch": epoch,
            "kind": self.kind,
            "dtype": dtype,
        }
        if tokens is not None:
            meta["tokens_per_sequence"] = tokens
        if rank is not None:
            meta.update(rank=rank, world_size=world)
        bg = self._background
        # error: a batch changed in place
        arrays = epochfile.take(batches, copy=False) if bg is None else bg.take(batches)
        job = epochfile.EpochJob(
            path, arrays, meta, epoch, rank, self.split, self.overwrite, self.compress, self.fsync
        )
        if bg is not None:
            bg.submit(job)  # then a duplicate id is an error of the write
        else:
            job.run(self._files)  # error: a duplicate id
        return path

    def _wait(self) -> None:
        """Wait for the background write under way; raise its error."""
        if self._background is not None:
            self._background.wait()

    def flush(self) -> None:
        """Wait until every epoch ended so far is on disk (``background=True``); raise a
        write's error."""
        self._wait()

    def close(self) -> None:
        """Drop batches not ended as an epoch and wait for the writes (:meth:`flush`)."""
        self.discard()
        try:
            self._wait()
        finally:
            if self._background is not None:
                self._background.release()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
            return
        self.discard()
        try:
            self._wait()
        except Exception as write_error:  # the first error is the one raised
            if hasattr(exc, "add_note"):
                exc.add_note(f"predaudit: also, writing an epoch failed: {write_error}")

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
