"""Where the recorder's share of the training loop's evaluation goes: scratch recorders.

Not a test: run it by hand (ideally on an idle machine) and read the table.

    python benchmarks/bench_recorder_parts.py [--rounds 200] [--modes hold,held+path,...]

The training loop of ``bench_recorder.py`` (the sample-data run's: train on 1347 digits,
then evaluate the training and the test digits, each split into its own recorder),
compared round by round in the same way (each round runs 5 epochs of every mode, in an
order that rotates; a mode's overhead is its evaluation's wall time over the "off"
mode's of the same round, minus 1; the median of the rounds, with a bootstrap 95%
interval of it). The modes are recorders cut down to one part of the work, or with one
part of it taken away, so that a part's cost is the difference of two rows:

- ``call``: ``add()`` and ``end_epoch()`` return at once;
- ``hold``: ``add()`` appends the batch to a list, nothing looked at; ``end_epoch()``
  drops them and returns a constant;
- ``held+versions``: ``hold`` with the three tensors' versions kept (what catches a
  change in place);
- ``held+path``: ``held+versions`` whose ``end_epoch()`` returns ``path_for(epoch)``, a
  ``Path`` made at the end of each epoch;
- ``held+paths ahead``: the same paths, made 16 at a time (as ``Recorder`` does);
- ``add() only``: ``Recorder.add()`` as it is, the batches dropped at ``end_epoch()``;
- ``checks at end_epoch``: a prototype that keeps in ``add()`` only what must be looked
  at when a batch comes (its types, device, autograd flag, versions) and compares every
  batch's shapes and dtypes with the first's at ``end_epoch()``, in one loop;
- ``recorder``: ``Recorder()`` as documented (background, the writer process);
- ``recorder with 3 reads constant``: the same with ``SOURCE_DATE_EPOCH`` read from an empty
  dict, the ``torch.distributed`` check and ``os.getpid()`` replaced by constants (what
  they cost, not a mode to use).

A median moves by up to half a point between runs (processes) of the same modes here:
compare rows of one run, and run it twice for a difference that small.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import torch

from predaudit.record import Recorder, writerproc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_recorder import _AddOnly, _CallOnly, evaluate, sample_training, train_epoch  # noqa: E402


class Hold(_CallOnly):
    def add(self, scores, labels, ids=None) -> None:
        self._kept.append((scores, labels, ids))

    def end_epoch(self, epoch: int) -> Path:  # type: ignore[override]
        self._kept = []
        return self.folder


class HeldVersions(Hold):
    def add(self, scores, labels, ids=None) -> None:
        self._kept.append((scores, labels, ids, scores._version, labels._version, ids._version))


class HeldPath(HeldVersions):
    def end_epoch(self, epoch: int) -> Path:  # type: ignore[override]
        self._kept = []
        return self.path_for(epoch)


class HeldPathsAhead(HeldVersions):
    def end_epoch(self, epoch: int) -> Path:  # type: ignore[override]
        self._kept = []
        return self._path(epoch, None)


class ChecksAtEnd(Hold):
    """A prototype: ``add()`` keeps what must be looked at when a batch comes (types,
    device, autograd, versions); ``end_epoch()`` compares the shapes and dtypes of every
    batch with the first's, in one loop."""

    def add(self, scores, labels, ids=None) -> None:
        if not (
            type(scores) is torch.Tensor
            and type(labels) is torch.Tensor
            and type(ids) is torch.Tensor
            and scores.is_cpu
            and labels.is_cpu
            and ids.is_cpu
            and not scores.requires_grad
        ):
            raise TypeError("the prototype takes CPU tensors only")
        self._kept.append((scores, labels, ids, scores._version, labels._version, ids._version))

    def end_epoch(self, epoch: int) -> Path:  # type: ignore[override]
        kept, self._kept = self._kept, []
        first = kept[0]
        tail, dtypes = first[0].shape[1:], (first[0].dtype, first[1].dtype, first[2].dtype)
        for s, y, i, *_ in kept:
            rows = s.shape[:1]
            if (
                s.shape[1:] != tail
                or y.shape != rows
                or i.shape != rows
                or (s.dtype, y.dtype, i.dtype) != dtypes
            ):
                raise ValueError("a batch unlike the first")
        return self._path(epoch, None)


_PID = os.getpid()
_CONSTANT_OS = types.SimpleNamespace(environ={}, fspath=os.fspath, getpid=lambda: _PID)


class ThreeReadsConstant(Recorder):
    def _rank(self) -> tuple[int | None, int]:
        return None, 1

    def end_epoch(self, epoch: int) -> Path:
        real, writerproc.os = writerproc.os, _CONSTANT_OS  # type: ignore[assignment]
        try:
            return super().end_epoch(epoch)
        finally:
            writerproc.os = real


MODES = {
    "call": _CallOnly,
    "hold": Hold,
    "held+versions": HeldVersions,
    "held+path": HeldPath,
    "held+paths ahead": HeldPathsAhead,
    "add() only": _AddOnly,
    "checks at end_epoch": ChecksAtEnd,
    "recorder": Recorder,
    "recorder with 3 reads constant": ThreeReadsConstant,
}


def make(mode: str, out: Path, split: str) -> Recorder:
    cls = MODES[mode]
    background = cls in (Recorder, ThreeReadsConstant)
    rec = cls(out, split=split, background=background)
    rec._kept = []  # type: ignore[attr-defined]
    return rec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200, help="paired rounds")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated")
    args = parser.parse_args()
    modes = ["off", *args.modes.split(",")]
    torch.set_num_threads(1)
    fit, splits, model, opt = sample_training()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        recs = {
            m: None if m == "off" else {s: make(m, Path(tmp) / str(i), s) for s in splits}
            for i, m in enumerate(modes)
        }
        epoch = dict.fromkeys(modes, 0)
        out: dict[str, list[float]] = {m: [] for m in modes}
        ms: list[float] = []
        warm = 3
        for r in range(warm + args.rounds):
            k = r % len(modes)
            spent: dict[str, float] = {}
            for mode in modes[k:] + modes[:k]:
                rec = recs[mode]
                spent[mode] = 0.0
                for _ in range(5):
                    train_epoch(model, opt, fit)
                    t0 = time.perf_counter()
                    for split, loader in splits.items():
                        evaluate(model, loader, None if rec is None else rec[split], epoch[mode])
                    spent[mode] += time.perf_counter() - t0
                    epoch[mode] += 1
                for split_rec in (rec or {}).values():
                    split_rec.flush()
            if r >= warm:
                ms.append(spent["off"] / 5 * 1e3)
                for m in modes:
                    out[m].append(spent[m] / spent["off"] - 1)
        for rec in recs.values():
            for split_rec in (rec or {}).values():
                split_rec.close()
    print(
        f"{args.rounds} rounds of 5 epochs per mode, order rotating; the evaluation off: "
        f"{statistics.median(ms):.2f} ms an epoch; load average {load_before:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after"
    )
    print()
    print("| mode | evaluation overhead | 95% interval of the median |")
    print("| --- | ---: | ---: |")
    rng = np.random.default_rng(0)
    for m in modes[1:]:
        v = np.asarray(out[m])
        medians = np.median(v[rng.integers(0, len(v), (4000, len(v)))], axis=1)
        lo, hi = np.quantile(medians, [0.025, 0.975])
        print(f"| {m} | {100 * np.median(v):+.2f}% | {100 * lo:+.2f}% … {100 * hi:+.2f}% |")


if __name__ == "__main__":
    main()
