"""Generated runs for the benchmarks: a model that learns, written chunk by chunk.

Not a test and not part of predaudit (importable for bench_scale.py, bench_end_to_end.py
and tests/benchmarks).

Each sample ``i`` has a label ``y_i`` (uniform over the classes) and a skill
``k_i ~ U(0.5, 1.5)``; at epoch ``e`` its logits are
``t_e * (s_e * k_i * onehot(y_i) + noise)``, with standard normal noise that is part
per sample (the same at every epoch, weight 0.6 of the variance) and part fresh. The
signal ``s_e`` is chosen (a Monte-Carlo quantile, see :func:`signals`) so that
the expected accuracy rises from 0.55 to 0.92 over the first 40% of the epochs, then
falls back to 0.82 (over-fitting); from there the temperature ``t_e`` grows from 1 to
3, so the model grows over-confident, the loss of the samples it gets wrong rises and
the epoch of lowest mean loss lies well before the last (``analyze`` compares two
different epochs, as on a real run). A single logit per sample (``classes=1``,
binary labels) is ``t_e * ((2 y_i - 1) * s_e * k_i + noise)``.

The noise of each chunk of rows comes from its own seeded generator, so the writer
holds one chunk (about 32 MiB) at a time whatever the size of the run:

- :func:`write_stacked`: ``logits.npy`` ``[E, N, C]`` float32 (``[E, N]`` when
  ``classes=1``) and ``labels.npy`` ``[N]`` int64;
- :func:`write_per_epoch`: one ``SPLIT/epoch_0001.npz`` … per epoch, written by
  :class:`predaudit.record.Recorder` (keys ``logits``, ``labels``, ``ids`` and its
  metadata), as a training loop would.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

CHUNK_ELEMENTS = 1 << 23
"""Rows are generated and written in pieces of about this many float32 values (32 MiB)."""

PERSISTENT = 0.6
"""Share of the noise variance that is the same at every epoch (the sample's own)."""

ACC_FIRST, ACC_PEAK, ACC_LAST = 0.55, 0.92, 0.82
PEAK_AT = 0.4
"""Accuracy peaks at this fraction of the epochs; the temperature rises after it."""
TEMP_LAST = 3.0


@dataclass(frozen=True)
class Spec:
    """One generated run: ``epochs`` x ``samples`` x ``classes`` (1: a single logit)."""

    epochs: int
    samples: int
    classes: int
    layout: str = "stacked"  # or "per_epoch"
    seed: int = 0

    @property
    def shape(self) -> tuple[int, ...]:
        if self.classes == 1:
            return (self.epochs, self.samples)
        return (self.epochs, self.samples, self.classes)

    @property
    def nbytes(self) -> int:
        return 4 * self.epochs * self.samples * self.classes

    def label(self) -> str:
        """``[40, 1000000, 10]`` or ``500 × .npz [10000, 10]``."""
        if self.layout == "per_epoch":
            return f"{self.epochs} × .npz [{self.samples}, {self.classes}]"
        return "[" + ", ".join(str(d) for d in self.shape) + "]"


def _progress(epochs: int) -> np.ndarray:
    return np.arange(epochs) / max(1, epochs - 1)


def target_accuracy(epochs: int) -> np.ndarray:
    """Expected accuracy per epoch: 0.55, a fast rise to 0.92 by 40%, down to 0.82."""
    x = _progress(epochs)
    rise = ACC_FIRST + (ACC_PEAK - ACC_FIRST) * (1 - np.exp(-10 * x)) / (1 - np.exp(-4))
    fall = ACC_PEAK - (ACC_PEAK - ACC_LAST) * (x - PEAK_AT) / (1 - PEAK_AT)
    return np.where(x < PEAK_AT, np.minimum(rise, ACC_PEAK), fall)


def temperatures(epochs: int) -> np.ndarray:
    """1 up to the accuracy peak, then a linear rise to 3 at the last epoch."""
    x = _progress(epochs)
    return 1 + (TEMP_LAST - 1) * np.clip((x - PEAK_AT) / (1 - PEAK_AT), 0, None)


def signals(classes: int, epochs: int, seed: int = 0) -> np.ndarray:
    """The signal ``s_e`` per epoch that gives :func:`target_accuracy` (Monte Carlo).

    A sample is right when ``s k + z_true > max(z_other)`` (``> 0`` for a single
    logit), that is when ``s > (max(z_other) - z_true) / k``: the accuracy at ``s`` is
    the distribution function of that threshold, so ``s_e`` is its quantile at the
    target accuracy, estimated on 40000 simulated samples (drawn 4000 at a time).
    """
    rng = np.random.default_rng([seed, 99, classes])
    m, block = 40_000, 4000
    skill = rng.uniform(0.5, 1.5, m)
    z_true = rng.standard_normal(m)
    rival = np.zeros(m)
    if classes > 1:
        for a in range(0, m, block):
            draw = rng.standard_normal((block, classes - 1), dtype=np.float32)
            rival[a : a + block] = draw.max(axis=1)
    threshold = (rival - z_true) / skill
    return np.maximum(0.0, np.quantile(threshold, target_accuracy(epochs)))


def _per_sample(spec: Spec) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([spec.seed, 0])
    n_labels = 2 if spec.classes == 1 else spec.classes
    labels = rng.integers(0, n_labels, spec.samples)
    skill = rng.uniform(0.5, 1.5, spec.samples).astype(np.float32)
    return labels, skill


def epoch_chunks(spec: Spec, labels: np.ndarray, skill: np.ndarray) -> Iterator[np.ndarray]:
    """The logits of every epoch, chunk of rows by chunk of rows, in file order."""
    c = spec.classes
    rows = max(1, CHUNK_ELEMENTS // c)
    sig = signals(c, spec.epochs, spec.seed).astype(np.float32)
    temp = temperatures(spec.epochs).astype(np.float32)
    a, b = np.float32(np.sqrt(PERSISTENT)), np.float32(np.sqrt(1 - PERSISTENT))
    for e in range(spec.epochs):
        for j, start in enumerate(range(0, spec.samples, rows)):
            stop = min(start + rows, spec.samples)
            shape = (stop - start,) if c == 1 else (stop - start, c)
            own = np.random.default_rng([spec.seed, 1, j]).standard_normal(shape, np.float32)
            fresh = np.random.default_rng([spec.seed, 2, e, j]).standard_normal(shape, np.float32)
            x = own
            x *= a
            fresh *= b
            x += fresh
            push = sig[e] * skill[start:stop]
            y = labels[start:stop]
            if c == 1:
                x += np.where(y == 1, push, -push)
            else:
                x[np.arange(stop - start), y] += push
            x *= temp[e]
            yield x


def is_complete(folder: Path, spec: Spec) -> bool:
    """Whether ``folder`` holds the whole run of ``spec`` (its SPEC.json is written last)."""
    marker = folder / "SPEC.json"
    return marker.exists() and json.loads(marker.read_text()) == asdict(spec)


def _fresh(folder: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)


def write_stacked(folder: Path, spec: Spec) -> tuple[Path, Path]:
    """``folder/logits.npy`` and ``folder/labels.npy`` (reused when already complete)."""
    scores, label_path = folder / "logits.npy", folder / "labels.npy"
    if is_complete(folder, spec):
        return scores, label_path
    _fresh(folder)
    labels, skill = _per_sample(spec)
    np.save(label_path, labels)
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype("<f4")), "fortran_order": False}
    with open(scores, "wb") as fh:
        np.lib.format.write_array_header_2_0(fh, {**header, "shape": spec.shape})  # type: ignore[no-untyped-call]
        for chunk in epoch_chunks(spec, labels, skill):
            fh.write(chunk.data)
    (folder / "SPEC.json").write_text(json.dumps(asdict(spec)))
    return scores, label_path


def write_per_epoch(folder: Path, spec: Spec, split: str = "test") -> Path:
    """One ``.npz`` per epoch under ``folder/split`` written by predaudit's Recorder."""
    if is_complete(folder, spec):
        return folder
    from predaudit.record import Recorder

    _fresh(folder)
    labels, skill = _per_sample(spec)
    rec = Recorder(folder, split=split)
    ids = np.arange(spec.samples)
    rows = max(1, CHUNK_ELEMENTS // spec.classes)
    n_chunks = -(-spec.samples // rows)
    chunks = epoch_chunks(spec, labels, skill)
    for e in range(spec.epochs):
        for j in range(n_chunks):
            sl = slice(j * rows, (j + 1) * rows)
            rec.add(next(chunks), labels[sl], ids[sl])
        rec.end_epoch(e + 1)
    rec.close()  # the last epoch's write (in the background) is finished
    (folder / "SPEC.json").write_text(json.dumps(asdict(spec)))
    return folder


def write(folder: Path, spec: Spec) -> Path:
    """Write the run of ``spec`` into ``folder`` (either layout); return the run folder."""
    if spec.layout == "per_epoch":
        return write_per_epoch(folder, spec)
    write_stacked(folder, spec)
    return folder
