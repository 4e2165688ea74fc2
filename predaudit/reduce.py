"""Per-sample statistics from one epoch's scores (DESIGN.md §3), in nats.

This is the only module that touches full ``[N, C]`` score arrays. It makes one
streaming pass per epoch: the rows are cut into chunks small enough to stay in
the CPU cache, a small thread pool works on them (numpy releases the GIL), and
every statistic (loss, prediction, true-class probability, confidence, margin)
is written into preallocated per-sample arrays.

Precision. float16 and bfloat16 chunks are widened to float32, and float32
chunks are worked on in float32 (``exp`` is vectorised there); float64 and
integer scores are worked on in float64. Sums are accumulated in float64, and the
loss is formed as ``(max - z_y) + log1p(sum_{k != argmax} exp(z_k - max))``: two
non-negative terms, no cancellation and no ``log(1 + tiny)``, so even a loss of
1e-20 keeps its relative precision (see :func:`_reduce_logits` for how float32
keeps every ``exp`` term within an ulp). Every statistic is returned in float64;
the per-sample loss is within a relative 1e-6 of an exact computation on the
same values.

Every row is computed on its own, so the result does not depend on the chunk
size or on the number of threads (tests pin this bit for bit).
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from predaudit.io.readers import BF16, bf16_to_float32

EPS = 1e-7
LOG_EPS = math.log(EPS)
KINDS = ("logits", "probs", "log_probs")
IGNORE_INDEX = -100
_TARGET_CHUNK_BYTES = 1 << 20  # 1 MiB of working floats per chunk (measured best on 2 cores)
_MAX_THREADS = 4
# float32 rows whose max lies in this range take exp(z) unshifted (see _logits_chunk).
_UNSHIFTED_LO, _UNSHIFTED_HI = -20.0, 88.0
# A shifted float32 row whose true class is the arg-max and whose other classes
# sum (after exp(z - max)) to less than this is recomputed in float64: its loss
# is about that sum, and float32 rounding of large |z - max| could show.
_F64_RECHECK = 1e-5


@dataclass
class EpochStats:
    """Per-sample statistics of one epoch, each an ndarray of shape (n_samples,).

    ``loss`` is cross-entropy in nats (NaN for ignored samples), ``pred`` the
    arg-max class (ties to the lower index), ``correct`` ``pred == label``
    (False for ignored samples), ``p_true`` the probability of the true class,
    ``confidence`` the largest class probability, ``margin`` the true class's
    score minus the best other one (logits, or log-probabilities floored at
    ``log 1e-7``). ``n_clipped`` counts values clipped to ``[1e-7, 1 - 1e-7]``
    (or -inf floored at ``log 1e-7``) among the samples that count;
    ``n_nonfinite`` counts NaN and +inf scores; ``n_dead_rows`` rows whose
    every class is -inf. When either of the last two is non-zero the other
    fields are not meaningful (the caller reports an input error).
    """

    loss: np.ndarray
    pred: np.ndarray
    correct: np.ndarray
    p_true: np.ndarray
    confidence: np.ndarray
    margin: np.ndarray
    n_clipped: int
    n_nonfinite: int
    n_dead_rows: int


@dataclass(frozen=True)
class KindEvidence:
    """What the score-kind rules of DESIGN.md §2 look at, gathered in one pass.

    ``max_rowsum_dev`` is ``inf`` unless every value is >= 0 (rows cannot be
    probabilities otherwise), and ``max_lse_abs`` is ``inf`` unless every value
    is <= 0; both are ``inf`` for a single score per sample.
    """

    min: float
    max: float
    max_rowsum_dev: float
    max_lse_abs: float
    n_nonfinite: int


# -- chunking and threads ------------------------------------------------------------------


def _work_dtype(scores: np.ndarray, dtype: str) -> np.dtype:
    """float32 for float16/bfloat16/float32 scores, float64 for everything else."""
    if dtype == BF16 or scores.dtype in (np.float16, np.float32):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _chunk_rows(n_classes: int, chunk_rows: int | None, itemsize: int = 4) -> int:
    if chunk_rows is not None:
        return max(1, int(chunk_rows))
    return max(1, _TARGET_CHUNK_BYTES // (itemsize * max(1, n_classes)))


def _threads(threads: int | None) -> int:
    if threads is not None:
        return max(1, int(threads))
    return max(1, min(_MAX_THREADS, os.cpu_count() or 1))


def _run_chunks(
    n: int, rows: int, threads: int, make_worker: Callable[[], Callable[[int, int], object]]
) -> list:  # type: ignore[type-arg]
    """Call a worker on every row range ``[a, b)``; each thread gets its own worker.

    ``make_worker()`` builds a worker with its own scratch buffers. Threads pull
    the next chunk from a shared counter, so a thread slowed down by the rest of
    the machine does not hold the others back. Returns the workers' results in
    chunk order.
    """
    starts = list(range(0, n, rows))
    results: list = [None] * len(starts)
    threads = min(threads, len(starts))
    if threads <= 1:
        work = make_worker()
        for i, a in enumerate(starts):
            results[i] = work(a, min(a + rows, n))
        return results
    lock = threading.Lock()
    next_index = iter(range(len(starts)))

    def loop() -> None:
        work = make_worker()
        while True:
            with lock:
                i = next(next_index, None)
            if i is None:
                return
            a = starts[i]
            results[i] = work(a, min(a + rows, n))

    pool = _pool()
    helpers = [pool.submit(loop) for _ in range(threads - 1)]
    try:
        loop()  # the calling thread works too
    finally:
        for f in helpers:
            f.result()  # waits; re-raises a helper's error
    return results


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """One pool for the process, started on first use (starting threads per call costs)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(
                max_workers=max(_MAX_THREADS, os.cpu_count() or 1),
                thread_name_prefix="predaudit-reduce",
            )
        return _POOL


def _forget_pool() -> None:
    global _POOL, _POOL_LOCK
    _POOL, _POOL_LOCK = None, threading.Lock()  # a forked child has none of the threads


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


class _Converter:
    """Turns a chunk of raw scores into a C-contiguous work-dtype array, reusing a buffer."""

    def __init__(self, dtype: str, work: np.dtype, rows: int, n_classes: int) -> None:
        self.bf16 = dtype == BF16
        self.work = work
        self.shape = (rows, n_classes)
        self.buf: np.ndarray | None = None
        self.bits: np.ndarray | None = None

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        m = raw.shape[0]
        if not self.bf16 and raw.dtype == self.work and raw.flags.c_contiguous:
            return raw
        if self.buf is None:
            self.buf = np.empty(self.shape[:1] + raw.shape[1:], dtype=self.work)
        out = self.buf[:m]
        if self.bf16:
            if self.bits is None:
                self.bits = self.buf.view(np.uint32)
            bits = self.bits[:m]
            np.left_shift(raw, 16, out=bits, dtype=np.uint32)
            return out
        np.copyto(out, raw, casting="unsafe")
        return out


def _count_bad(x: np.ndarray) -> int:
    """Number of NaN and +inf values."""
    return int(np.count_nonzero(np.isnan(x) | (x == np.inf)))


# -- kind evidence -------------------------------------------------------------------------


def scan_kind(
    scores: np.ndarray,
    *,
    dtype: str = "",
    chunk_rows: int | None = None,
    threads: int | None = None,
) -> KindEvidence:
    """Gather the evidence for score-kind detection from ``scores`` (N, C) or (N,).

    Row sums and log-sum-exp only make sense for ``[N, C]`` scores; for a
    single score per sample they are reported as ``inf``. The pass reads the
    data once (min and max per chunk); row sums and log-sum-exp are only
    computed for chunks where they can still matter.
    """
    n = scores.shape[0]
    c = 1 if scores.ndim == 1 else scores.shape[1]
    work = _work_dtype(scores, dtype)
    rows = _chunk_rows(c, chunk_rows, work.itemsize)

    def make_worker() -> Callable[[int, int], tuple[float, float, float, float, int]]:
        conv = _Converter(dtype, work, rows, c)

        def run(a: int, b: int) -> tuple[float, float, float, float, int]:
            x = conv(scores[a:b])
            with np.errstate(all="ignore"):
                lo, hi = float(x.min()), float(x.max())
                if math.isnan(lo) or math.isnan(hi) or hi == math.inf:
                    return math.inf, -math.inf, math.inf, math.inf, _count_bad(x)
                if x.ndim == 1:
                    return lo, hi, math.inf, math.inf, 0
                dev = math.inf
                if lo >= 0:
                    dev = float(np.max(np.abs(x.sum(axis=1, dtype=np.float64) - 1.0)))
                lse_abs = math.inf
                if hi <= 0:
                    lse_abs = _lse_abs(x)
            return lo, hi, dev, lse_abs, 0

        return run

    parts = _run_chunks(n, rows, _threads(threads), make_worker)
    return _merge_evidence(parts)


def _lse_abs(x: np.ndarray) -> float:
    """max |log-sum-exp| over the rows of ``x`` (inf if a row is all -inf)."""
    mx = x.max(axis=1)
    if np.any(mx == -np.inf):
        return math.inf
    s = np.exp(x - mx[:, None]).sum(axis=1, dtype=np.float64)
    return float(np.max(np.abs(mx + np.log(s))))


def _merge_evidence(parts: list) -> KindEvidence:  # type: ignore[type-arg]
    if not parts:
        return KindEvidence(0.0, 0.0, math.inf, math.inf, 0)
    return KindEvidence(
        min=min(p[0] for p in parts),
        max=max(p[1] for p in parts),
        max_rowsum_dev=max(p[2] for p in parts),
        max_lse_abs=max(p[3] for p in parts),
        n_nonfinite=sum(p[4] for p in parts),
    )


def decide_kind(ev: KindEvidence, *, binary: bool) -> str:
    """Apply DESIGN.md §2: probabilities, then log-probabilities, else logits.

    >>> decide_kind(KindEvidence(0.0, 1.0, 1e-6, float("inf"), 0), binary=False)
    'probs'
    >>> decide_kind(KindEvidence(-3.0, 0.0, float("inf"), 1e-5, 0), binary=False)
    'log_probs'
    >>> decide_kind(KindEvidence(0.1, 0.9, 0.4, float("inf"), 0), binary=False)
    'logits'
    """
    if binary:
        return "probs" if ev.min >= 0.0 and ev.max <= 1.0 else "logits"
    if ev.min >= 0.0 and ev.max <= 1.0 and ev.max_rowsum_dev <= 1e-3:
        return "probs"
    if ev.max <= 0.0 and ev.max_lse_abs <= 1e-3:
        return "log_probs"
    return "logits"


# -- the reduction -------------------------------------------------------------------------


@dataclass
class _Out:
    """The preallocated per-sample arrays every chunk writes into."""

    loss: np.ndarray
    pred: np.ndarray
    p_true: np.ndarray
    confidence: np.ndarray
    margin: np.ndarray

    @classmethod
    def empty(cls, n: int) -> _Out:
        return cls(
            loss=np.empty(n),
            pred=np.empty(n, dtype=np.int64),
            p_true=np.empty(n),
            confidence=np.empty(n),
            margin=np.empty(n),
        )

    def fill_nan(self, a: int, b: int) -> None:
        for arr in (self.loss, self.p_true, self.confidence, self.margin):
            arr[a:b] = np.nan
        self.pred[a:b] = 0


def _targets(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Class index per sample (0 where ignored), the ignored mask, soft targets or None.

    One-hot rows are turned into indices, so they give exactly the statistics
    of the same labels given as indices.
    """
    if labels.ndim == 2:
        q = np.asarray(labels, dtype=np.float64)
        y = q.argmax(axis=1).astype(np.int64)
        ignored = np.zeros(q.shape[0], dtype=bool)
        if bool(np.all((q == 0.0) | (q == 1.0))) and bool(np.all(q.sum(axis=1) == 1.0)):
            return y, ignored, None
        return y, ignored, q
    lab = np.asarray(labels)
    ignored = lab == IGNORE_INDEX
    y = np.where(ignored, 0, lab).astype(np.int64)
    return y, ignored, None


_Evidence = tuple[float, float, float, float, int]


def _bad_evidence(x: np.ndarray) -> _Evidence:
    return math.inf, -math.inf, math.inf, math.inf, _count_bad(x)


def _soft_dot(q: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Soft targets ``q`` against ``d = z - max``, per row.

    Returns the sum of ``q_k d_k`` over the finite classes, the target mass on
    -inf classes, and how many (row, class) pairs have target mass on -inf.
    """
    pos = q > 0
    masked = pos & (d == -np.inf)
    terms = np.where(pos & ~masked, q * d, 0.0)
    q_masked = np.where(masked, q, 0.0).sum(axis=1)
    return terms.sum(axis=1), q_masked, int(np.count_nonzero(masked))


def _neg_log_clipped(p: np.ndarray) -> np.ndarray:
    """``-log(clip(p, 1e-7, 1 - 1e-7))``, the clipped ends exact."""
    with np.errstate(divide="ignore", invalid="ignore"):
        nl = -np.log(p)
    nl = np.where(p < EPS, -LOG_EPS, nl)
    return np.where(p > 1.0 - EPS, -math.log1p(-EPS), nl)


def _probs_chunk(
    x: np.ndarray,
    y: np.ndarray,
    valid: np.ndarray,
    q: np.ndarray | None,
    d: np.ndarray,
    out: _Out,
    a: int,
    b: int,
    *,
    log_input: bool,
) -> tuple[int, int, int]:
    """Probabilities (``log_input`` False) or log-probabilities kernel.

    Returns n_clipped, the NaN/+inf count and n_dead_rows.
    """
    m = x.shape[0]
    r = np.arange(m)
    am = np.argmax(x, axis=1)
    mx = x[r, am].astype(np.float64)
    if np.isnan(mx).any() or np.any(mx == np.inf):
        out.fill_nan(a, b)
        return 0, _count_bad(x), 0
    n_dead = int(np.count_nonzero(mx == -np.inf)) if log_input else 0
    if n_dead:
        out.fill_nan(a, b)
        return 0, 0, n_dead
    zy = x[r, y].astype(np.float64)
    if log_input:
        bad_y = zy < LOG_EPS
        lp_y = np.maximum(zy, LOG_EPS)
        out.loss[a:b] = -lp_y
        out.p_true[a:b] = np.exp(zy)
        out.confidence[a:b] = np.exp(mx)
    else:
        bad_y = (zy < EPS) | (zy > 1.0 - EPS)
        lp_y = np.log(np.maximum(zy, EPS))
        out.loss[a:b] = _neg_log_clipped(zy)
        out.p_true[a:b] = zy
        out.confidence[a:b] = mx
    # best other class: the max unless the true class is the (first) max
    d = d[:m]
    np.copyto(d, x)
    d[r, y] = -np.inf
    other = d.max(axis=1).astype(np.float64)
    lp_other = np.maximum(other, LOG_EPS) if log_input else np.log(np.maximum(other, EPS))
    out.margin[a:b] = lp_y - lp_other
    out.pred[a:b] = am
    if q is None:
        return int(np.count_nonzero(bad_y & valid)), 0, 0
    pos = q > 0
    if log_input:
        bad = x < LOG_EPS
        logp = np.maximum(x, LOG_EPS)
    else:
        bad = (x < EPS) | (x > 1.0 - EPS)
        logp = -_neg_log_clipped(x)
    out.loss[a:b] = -np.where(pos, q * logp, 0.0).sum(axis=1)
    return int(np.count_nonzero(bad & pos)), 0, 0


def _reduce_logits(
    scores: np.ndarray,
    y: np.ndarray,
    valid: np.ndarray,
    q: np.ndarray | None,
    out: _Out,
    *,
    dtype: str,
    chunk_rows: int | None,
    threads: int | None,
) -> tuple[int, int, int, KindEvidence]:
    """Logits: returns n_clipped, the NaN/+inf count, n_dead_rows and the kind evidence.

    With ``M = max_k z_k`` and ``R = sum_{k != argmax} exp(z_k - M)`` the loss
    is ``(M - z_y) + log1p(R)``: two non-negative terms, no cancellation. The
    chunks only make the passes over ``[m, C]`` data (argmax, min, shift, second
    best, exp, row sum) and leave per-row results (max, true-class score, best
    other score, ``R``) in per-sample arrays; the rest is vectorised over the
    epoch at the end.

    float32 precision: rows whose max lies in ``[-20, 88]`` take ``exp(z_k)``
    unshifted (``z_k`` is exact, so every term is within an ulp whatever its gap
    to the max) and divide the sum by ``exp(M)``; other rows are shifted by
    their max (exact, by Sterbenz's lemma, for the terms that matter once
    ``|M| >= 60``), and those of them with ``R < 1e-5`` where the true class is
    the max are recomputed in float64.
    """
    n, c = scores.shape
    work = _work_dtype(scores, dtype)
    rows = _chunk_rows(c, chunk_rows, work.itemsize)
    f32 = work == np.float32
    mx = np.empty(n)
    zy = np.empty(n)
    second = np.empty(n)
    rest = np.empty(n)
    soft_dot = None if q is None else np.empty(n)
    q_masked = None if q is None else np.empty(n)
    pred = out.pred

    def make_worker() -> Callable[[int, int], tuple[_Evidence, int, int]]:
        conv = _Converter(dtype, work, rows, c)
        scratch = np.empty((min(rows, n), c), dtype=work)
        r_all = np.arange(rows)

        def run(a: int, b: int) -> tuple[_Evidence, int, int]:
            x = conv(scores[a:b])
            m = b - a
            r = r_all[:m]
            d = scratch[:m]
            with np.errstate(all="ignore"):
                am = np.argmax(x, axis=1, out=pred[a:b])  # ties to the lower index
                top = x[r, am]  # a NaN or +inf wins the argmax
                lo = float(x.min())
                hi = float(top.max())
                if math.isnan(lo) or hi == math.inf:
                    return _bad_evidence(x), 0, 0
                n_dead = int(np.count_nonzero(top == -np.inf))
                if n_dead:
                    mx[a:b] = zy[a:b] = second[a:b] = rest[a:b] = np.nan
                    return (lo, hi, math.inf, math.inf, 0), n_dead, 0
                mx[a:b] = top
                zy[a:b] = x[r, y[a:b]]
                shifted = (top < _UNSHIFTED_LO) | (top > _UNSHIFTED_HI) if f32 else None
                if shifted is None:
                    np.subtract(x, top[:, None], out=d)
                else:
                    np.subtract(x, np.where(shifted, top, 0)[:, None], out=d)
                t = d[r, am]  # M - shift: M when unshifted, else 0
                d[r, am] = -np.inf
                i2 = np.argmax(d, axis=1)  # the best class other than the arg-max
                second[a:b] = np.where(d[r, i2] == -np.inf, -np.inf, x[r, i2])
                np.exp(d, out=d)
                rb = rest[a:b]
                np.sum(d, axis=1, dtype=np.float64, out=rb)
                rb /= np.exp(t)  # relative to exp(M - shift)
                n_masked = 0
                if q is not None:
                    assert soft_dot is not None and q_masked is not None
                    dot, qm, n_masked = _soft_dot(q[a:b], x.astype(np.float64) - mx[a:b, None])
                    soft_dot[a:b], q_masked[a:b] = dot, qm
                if shifted is not None and shifted.any():
                    _recheck(x, am, mx[a:b], zy[a:b], rb, shifted)
                dev = math.inf
                if lo >= 0:
                    dev = float(np.max(np.abs(x.sum(axis=1, dtype=np.float64) - 1.0)))
            return (lo, hi, dev, math.inf, 0), 0, n_masked

        return run

    parts = _run_chunks(n, rows, _threads(threads), make_worker)
    ev = _merge_evidence([p[0] for p in parts])
    n_dead = sum(p[1] for p in parts)
    if ev.n_nonfinite or n_dead:
        out.fill_nan(0, n)
        return 0, ev.n_nonfinite, n_dead, ev
    with np.errstate(all="ignore"):
        log_rest = np.log1p(rest)  # log-sum-exp = M + log_rest
        true_masked = zy == -np.inf
        loss = (mx - zy) + log_rest  # the gap is exact for float32 inputs
        np.exp(-loss, out=out.p_true)
        # margin on logits: z_y - max_{k != y} z_k, exact. An -inf on either side is
        # floored at log-sum-exp + log 1e-7 (log p = log 1e-7), so it stays finite.
        floor = mx + log_rest + LOG_EPS
        best_other = np.where(pred == y, np.where(second == -np.inf, floor, second), mx)
        np.subtract(np.where(true_masked, floor, zy), best_other, out=out.margin)
        if q is None:
            n_clipped = int(np.count_nonzero(true_masked & valid))
            np.copyto(out.loss, np.where(true_masked, -LOG_EPS, loss))
        else:
            # -sum_k q_k log p_k with log p_k = (z_k - M) - log_rest; a masked class
            # with target mass has log p_k floored at log 1e-7.
            assert soft_dot is not None and q_masked is not None
            n_clipped = sum(p[2] for p in parts)
            qs = q.sum(axis=1) - q_masked
            np.copyto(out.loss, qs * log_rest - soft_dot - q_masked * LOG_EPS)
        np.divide(1.0, 1.0 + rest, out=out.confidence)
        lse_abs = float(np.max(np.abs(mx + log_rest), initial=0.0)) if ev.max <= 0 else math.inf
    ev = KindEvidence(ev.min, ev.max, ev.max_rowsum_dev, lse_abs, 0)
    return n_clipped, 0, 0, ev


def _recheck(
    x: np.ndarray,
    am: np.ndarray,
    mx: np.ndarray,
    zy: np.ndarray,
    rest: np.ndarray,
    shifted: np.ndarray,
) -> None:
    """Recompute ``rest`` in float64 for shifted rows whose loss is about ``rest`` alone."""
    rows = np.flatnonzero(shifted & (zy == mx) & (rest < _F64_RECHECK))
    if rows.size:
        d64 = x[rows].astype(np.float64) - mx[rows, None]
        d64[np.arange(rows.size), am[rows]] = -np.inf
        rest[rows] = np.exp(d64).sum(axis=1)


def _reduce_multiclass(
    scores: np.ndarray,
    y: np.ndarray,
    valid: np.ndarray,
    q: np.ndarray | None,
    out: _Out,
    *,
    kind: str,
    dtype: str,
    chunk_rows: int | None,
    threads: int | None,
) -> tuple[int, int, int, KindEvidence | None]:
    """Returns n_clipped, the NaN/+inf count, n_dead_rows and (logits only) the evidence."""
    if kind == "logits":
        return _reduce_logits(
            scores, y, valid, q, out, dtype=dtype, chunk_rows=chunk_rows, threads=threads
        )
    n, c = scores.shape
    work = _work_dtype(scores, dtype)
    rows = _chunk_rows(c, chunk_rows, work.itemsize)
    log_input = kind == "log_probs"

    def make_worker() -> Callable[[int, int], tuple[int, int, int]]:
        conv = _Converter(dtype, work, rows, c)
        scratch = np.empty((min(rows, n), c), dtype=work)

        def run(a: int, b: int) -> tuple[int, int, int]:
            x = conv(scores[a:b])
            qc = None if q is None else q[a:b]
            with np.errstate(all="ignore"):
                return _probs_chunk(
                    x, y[a:b], valid[a:b], qc, scratch, out, a, b, log_input=log_input
                )

        return run

    parts = _run_chunks(n, rows, _threads(threads), make_worker)
    n_clipped = sum(p[0] for p in parts)
    n_bad = sum(p[1] for p in parts)
    n_dead = sum(p[2] for p in parts)
    return n_clipped, n_bad, n_dead, None


def _reduce_binary(
    scores: np.ndarray,
    y: np.ndarray,
    valid: np.ndarray,
    q: np.ndarray | None,
    out: _Out,
    *,
    kind: str,
    dtype: str,
) -> tuple[int, int]:
    """A single sigmoid output per sample; returns n_clipped and the NaN/+inf count."""
    n = scores.shape[0]
    s = bf16_to_float32(scores) if dtype == BF16 else scores
    s = np.asarray(s, dtype=np.float64)
    n_bad = _count_bad(s)
    if n_bad:
        out.fill_nan(0, n)
        return 0, n_bad
    pos = y == 1
    with np.errstate(all="ignore"):
        if kind == "logits":
            out.pred[:] = s > 0
            masked = s == -np.inf  # class 1 is impossible
            log_p1 = np.where(masked, LOG_EPS, -np.logaddexp(0.0, -s))  # log sigmoid(s), floored
            log_p0 = -np.logaddexp(0.0, s)  # log (1 - sigmoid(s))
            out.confidence[:] = np.exp(-np.logaddexp(0.0, -np.abs(s)))
            out.p_true[:] = np.where(pos, np.exp(-np.logaddexp(0.0, -s)), np.exp(log_p0))
            # the margin of z = [0, s] as for several classes: -inf is floored at the
            # log-sum-exp (0 when s == -inf) plus log 1e-7
            margin = np.where(pos, s, -s)
            out.margin[:] = np.where(masked, np.where(pos, LOG_EPS, -LOG_EPS), margin)
            if q is None:
                clipped = int(np.count_nonzero(masked & pos & valid))
            else:
                clipped = int(np.count_nonzero(masked & (q[:, 1] > 0)))
        else:
            p = s if kind == "probs" else np.exp(s)
            out.pred[:] = p > 0.5
            log_p1, log_p0 = -_neg_log_clipped(p), -_neg_log_clipped(1.0 - p)
            out.confidence[:] = np.maximum(p, 1.0 - p)
            out.p_true[:] = np.where(pos, p, 1.0 - p)
            lp1, lp0 = np.log(np.maximum(p, EPS)), np.log(np.maximum(1.0 - p, EPS))
            out.margin[:] = np.where(pos, lp1 - lp0, lp0 - lp1)
            clipped = int(np.count_nonzero(((p < EPS) | (p > 1.0 - EPS)) & valid))
        if q is None:
            out.loss[:] = -np.where(pos, log_p1, log_p0)
        else:
            out.loss[:] = -(q[:, 1] * log_p1 + q[:, 0] * log_p0)
    return clipped, 0


def reduce_scores(
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    kind: str,
    dtype: str = "",
    chunk_rows: int | None = None,
    threads: int | None = None,
) -> EpochStats:
    """Compute the per-sample statistics of one epoch.

    Parameters
    ----------
    scores : ndarray of shape (n_samples, n_classes) or (n_samples,)
        Logits, probabilities or log-probabilities (``kind``); a 1-D array is a
        single binary sigmoid output. Any float dtype; ``dtype == "bfloat16"``
        marks ``uint16`` bit patterns.
    labels : ndarray of shape (n_samples,) or (n_samples, n_classes)
        Integer class indices (-100 = ignored) or one-hot / soft targets.
    kind : {"logits", "probs", "log_probs"}
    chunk_rows, threads : int, optional
        Rows per chunk and worker threads (defaults: chunks of about 1 MiB,
        up to 4 threads). They change the speed, never the result.

    Returns
    -------
    EpochStats
        Losses in nats, accumulated in float64.

    Examples
    --------
    >>> st = reduce_scores(np.array([[2.0, 0.0], [1e4, -1e4]]), np.array([0, 1]), kind="logits")
    >>> st.loss.round(6).tolist(), st.pred.tolist(), st.correct.tolist()
    ([0.126928, 20000.0], [0, 0], [True, False])
    """
    stats, _ = _reduce(
        scores, labels, kind=kind, dtype=dtype, chunk_rows=chunk_rows, threads=threads
    )
    return stats


def reduce_detect(
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    kind: str | None = None,
    dtype: str = "",
    chunk_rows: int | None = None,
    threads: int | None = None,
) -> tuple[str, EpochStats, KindEvidence]:
    """Reduce one epoch and gather the score-kind evidence in the same pass.

    With ``kind=None`` the kind is decided from this epoch alone
    (:func:`decide_kind`) and the statistics are computed as that kind. Logits,
    the common case, take a single pass over the data; probabilities and
    log-probabilities a second one. For a single score per sample the kind must
    be decided over every epoch (DESIGN.md §2), so pass ``kind`` there.

    Returns
    -------
    (kind, stats, evidence)
        ``evidence`` is what :func:`scan_kind` returns on the same scores (``min``,
        ``max`` and ``n_nonfinite`` identical; the row-sum and log-sum-exp
        deviations equal up to rounding), so :func:`decide_kind` applies.
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if scores.ndim == 1:
        ev = scan_kind(scores, dtype=dtype, chunk_rows=chunk_rows, threads=threads)
        chosen = kind or decide_kind(ev, binary=True)
        return chosen, reduce_scores(scores, labels, kind=chosen, dtype=dtype), ev
    stats, found = _reduce(
        scores, labels, kind="logits", dtype=dtype, chunk_rows=chunk_rows, threads=threads
    )
    assert found is not None
    chosen = kind or decide_kind(found, binary=False)
    if chosen != "logits" and not found.n_nonfinite:
        stats, _ = _reduce(
            scores, labels, kind=chosen, dtype=dtype, chunk_rows=chunk_rows, threads=threads
        )
    return chosen, stats, found


def _reduce(
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    kind: str,
    dtype: str,
    chunk_rows: int | None,
    threads: int | None,
) -> tuple[EpochStats, KindEvidence | None]:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    n = scores.shape[0]
    y, ignored, q = _targets(labels)
    valid = ~ignored
    out = _Out.empty(n)
    ev = None
    if scores.ndim == 1:
        n_clipped, n_bad = _reduce_binary(scores, y, valid, q, out, kind=kind, dtype=dtype)
        n_dead = 0
    else:
        n_clipped, n_bad, n_dead, ev = _reduce_multiclass(
            scores,
            y,
            valid,
            q,
            out,
            kind=kind,
            dtype=dtype,
            chunk_rows=chunk_rows,
            threads=threads,
        )
    correct = (out.pred == y) & valid
    if ignored.any():
        out.loss[ignored] = np.nan
        out.p_true[ignored] = np.nan
        out.margin[ignored] = np.nan
    stats = EpochStats(
        loss=out.loss,
        pred=out.pred,
        correct=correct,
        p_true=out.p_true,
        confidence=out.confidence,
        margin=out.margin,
        n_clipped=n_clipped,
        n_nonfinite=n_bad,
        n_dead_rows=n_dead,
    )
    return stats, ev
