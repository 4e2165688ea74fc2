"""The store: per-sample statistics of every split, the one thing analyses read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from predaudit.report.vocab import EpochUnit, LabelFormat, SampleUnit, StatsKind

FIT_STATUS = (
    "given",
    "converged",
    "flat",
    "lower_bound",
    "upper_bound",
    "not_converged",
    "no_samples",
)
"""Codes of ``SplitStats.temperature_fit[:, 1]``: how each epoch's temperature came about."""

COLUMNS = (
    "labels",
    "valid",
    "loss",
    "pred",
    "correct",
    "p_true",
    "confidence",
    "margin",
    "loss_at_t",
    "brier",
)
"""The per-sample columns of ``SplitStats``, each of shape (n_epochs, n_rows) (or None)."""

TOTALS = ("n_samples", "n_correct", "loss_sum", "loss_sum_correct", "loss_sum_wrong")
"""Columns of ``SplitStats.epoch_totals``: per epoch, over the samples that count, their
number, the correct ones, and the sums of their losses (all, correct, wrong; nats)."""

if TYPE_CHECKING:
    from predaudit.io.discover import SplitLayout


@dataclass(frozen=True)
class SplitSource:
    """Where a split's scores can be read again: its layout (with ``from_arrays``' arrays).

    ``use_cache``: whether what is computed from them again may be cached
    (:mod:`predaudit.store.temperature`), as the statistics were; ``fingerprint``: the
    files' :func:`predaudit.store.cache.fingerprint` taken before the statistics were
    read, which that cache entry is checked against too (not taken a second time).
    """

    layout: SplitLayout
    use_cache: bool = False
    fingerprint: list[list[Any]] | None = None


@dataclass
class SplitStats:
    """Per-sample statistics of one split, arrays of shape (n_epochs, n_rows).

    Rows are in canonical order (sorted ids when ids exist). ``valid`` is False
    where the label is -100 (ignored); ``loss`` is NaN there. ``labels`` holds
    class indices (the argmax of one-hot/soft targets).
    """

    name: str
    epochs: list[int]
    n_classes: int
    input_kind: StatsKind
    kind_detected: bool
    label_format: LabelFormat
    dtype: str
    has_ids: bool
    aligned: bool
    n_clipped: int
    files: list[str]
    pattern: str
    ids: np.ndarray | None
    labels: np.ndarray
    valid: np.ndarray
    loss: np.ndarray
    pred: np.ndarray
    correct: np.ndarray
    p_true: np.ndarray
    confidence: np.ndarray
    margin: np.ndarray
    binary: bool = False
    source: SplitSource | None = field(
        default=None, repr=False, compare=False, metadata={"cached": False}
    )
    """Where the scores can be read again (temperatures at a few epochs, for ``analyze``);
    None for statistics built by hand. Not part of the cache entry."""
    temperature: np.ndarray | None = None
    """With ``calibration``: the temperature per epoch, shape (n_epochs,) (fitted, or given)."""
    temperature_fit: np.ndarray | None = None
    """Per epoch: iterations of the fit, and its status code (see ``FIT_STATUS``), (n_epochs, 2)."""
    loss_at_t: np.ndarray | None = None
    """Cross-entropy (nats) at that epoch's temperature, (n_epochs, n_rows); NaN where ignored."""
    brier: np.ndarray | None = None
    """Brier score sum_k (p_k - onehot_k)^2 at T = 1, (n_epochs, n_rows); NaN where ignored."""
    epoch_unit: EpochUnit = "epoch"
    """What the epoch labels count: ``step`` for ``checkpoint-500/`` folders or ``step_N`` names."""
    sample_unit: SampleUnit = "sample"
    """``token`` for token-level scores ``[S, T, C]``: row ``s·T + t`` is token t of sequence s."""
    tokens_per_sequence: int | None = None
    """T of token-level scores (the id of a row is ``s·T + t``); None for samples."""
    n_floored: int = 0
    """True-class probabilities of exactly 0 (a -inf logit or log-probability), summed over
    epochs among the samples that count, floored at the input dtype's smallest normal number."""
    clip: float | None = None
    """The ε probabilities were clipped to ``[ε, 1 − ε]`` by (``n_clipped`` counts them); None."""
    p_true_moments: np.ndarray | None = None
    """Over every epoch, per row: the running mean and sum of squared deviations of the
    stored ``p_true`` (:func:`~predaudit.reduce.welford.welford_step`), shape (2, n_rows),
    float64 — the data map's confidence and variability without reading the columns again.
    None for statistics built by hand or pre-reduced records."""
    valid_all: np.ndarray | None = None
    """Rows that count at every epoch, shape (n_rows,), bool (with ``p_true_moments``)."""
    labels_stable: bool = True
    """Whether every row counted so far kept the label of the first epoch."""
    epoch_totals: np.ndarray | None = None
    """Per-epoch sums (see ``TOTALS``), shape (n_epochs, 5), taken as the epochs were reduced;
    None for statistics built by hand (then :meth:`totals` computes them)."""

    @property
    def n_rows(self) -> int:
        return int(self.loss.shape[1])

    @property
    def n_samples(self) -> int:
        """Samples that count (label not -100), at the first epoch."""
        return int(self.valid[0].sum())

    @property
    def n_ignored(self) -> int:
        return int((~self.valid[0]).sum())

    def epoch_index(self, epoch: int) -> int:
        return self.epochs.index(epoch)

    def totals(self) -> np.ndarray:
        """``epoch_totals``, computed an epoch at a time when the statistics lack them."""
        if self.epoch_totals is None:
            from predaudit.store.columns import release

            rows = [
                epoch_row_totals(self.loss[i], self.correct[i], self.valid[i], threads=None)
                for i in range(len(self.epochs))
            ]
            release(self.loss, self.correct, self.valid)
            self.epoch_totals = np.array(rows, dtype=np.float64).reshape(-1, len(TOTALS))
        return self.epoch_totals

    def release(self) -> None:
        """Give back the mapped pages of memory-mapped columns (after reading many epochs);
        the values stay readable. A no-op for columns held in memory."""
        from predaudit.store.columns import release

        release(*(getattr(self, name) for name in COLUMNS))

    def sample_ids(self) -> np.ndarray:
        """Sample ids, or positions 0..N-1 when the run has none."""
        return self.ids if self.ids is not None else np.arange(self.n_rows)


def epoch_row_totals(
    loss: np.ndarray, correct: np.ndarray, valid: np.ndarray, *, threads: int | None = 1
) -> np.ndarray:
    """``TOTALS`` of one epoch from its rows (shape (n_rows,) each; loss in nats).

    The counted rows are summed in blocks of :data:`TOTAL_BLOCK` of them (a block spans
    more rows where some are ignored): in each block, numpy's pairwise float64 sums of
    all its losses, of the correct and of the wrong ones (gathered with ``np.compress``:
    quicker than ``np.bincount`` with weights); then the blocks' sums in block order,
    within a relative ``(log2(TOTAL_BLOCK) + N / TOTAL_BLOCK)·1.1e-16`` or so of exact
    (an infinite loss stays in its own sum). The blocks depend only on the counted rows,
    so ignoring a row is exactly dropping it, bit for bit, and the result depends on
    neither ``threads`` (blocks on the reduction's pool; None: its default count) nor
    the machine. No copy when every row counts.
    """
    every = bool(valid.all())
    n = int(loss.shape[0]) if every else int(np.count_nonzero(valid))
    if n <= TOTAL_BLOCK:
        return _block_totals(loss, correct, valid, every)
    from predaudit.reduce.pool import _run_chunks, _threads

    # block i: rows [starts[i], starts[i + 1]), TOTAL_BLOCK counted rows each but the last
    if every:
        starts = np.arange(0, n, TOTAL_BLOCK)
    else:
        starts = np.flatnonzero(valid)[::TOTAL_BLOCK]
    bounds = [int(a) for a in starts] + [int(loss.shape[0])]

    def make_worker() -> Callable[[int, int], np.ndarray]:
        def block(i: int, _: int) -> np.ndarray:
            a, b = bounds[i], bounds[i + 1]
            return _block_totals(loss[a:b], correct[a:b], valid[a:b], every)

        return block

    parts = _run_chunks(len(bounds) - 1, 1, _threads(threads), make_worker)
    out = parts[0].copy()
    for part in parts[1:]:  # in block order
        out += part
    return out


TOTAL_BLOCK = 1 << 16
"""Counted rows per block of :func:`epoch_row_totals` (an epoch of at most this many is
one block: numpy's sums of its counted rows)."""


def _block_totals(
    loss: np.ndarray, correct: np.ndarray, valid: np.ndarray, every: bool
) -> np.ndarray:
    """``TOTALS`` of rows taken as one block (the counted ones: all when ``every``)."""
    lv = loss if every else loss[valid]
    cv = correct if every else correct[valid]
    s_c = np.compress(cv, lv).sum(dtype=np.float64)
    s_w = np.compress(~cv, lv).sum(dtype=np.float64)
    return np.array([lv.shape[0], np.count_nonzero(cv), lv.sum(), s_c, s_w], dtype=np.float64)


@dataclass
class RunStats:
    """Every split of a run, by name."""

    path: str
    splits: dict[str, SplitStats] = field(default_factory=dict)
