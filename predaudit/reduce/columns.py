"""The small-class kernels: the same chunk passes as the row kernels, over columns.

numpy reductions along a short last axis (``argmax``, ``max``, ``sum`` over 10
classes) cost far more per value than elementwise work, because every row is a
separate short loop. For ``C <= MAX_CLASSES`` a chunk ``[m, C]`` is instead
copied once into a class-major block ``[C, m]`` and every per-row quantity is
built from ``C`` elementwise passes over contiguous rows of ``m`` values, with
preallocated buffers (``out=``) reused chunk after chunk.

The results are those of the row kernels bit for bit (tests/reduce/test_columns.py):

- the arg-max is the first class equal to the row's maximum (a branch-free maximum
  over the classes), so a tie keeps the lower index as ``np.argmax`` does, and the
  maximum is then read back from the block (the stored value, a zero's sign too);
- the row sums (``sum(axis=1, dtype=float64)``) are added in numpy's own order for
  fewer than 128 terms: eight running partial sums, combined as
  ``((s0+s1)+(s2+s3))+((s4+s5)+(s6+s7))``, then the remaining terms one by one
  (fewer than eight terms: one by one);
- ``exp`` and the float32 subtractions are elementwise, so the layout changes nothing.

Soft targets take the row kernels (their cost is the float64 work on the targets).
One difference is allowed: the sign of a zero margin of probabilities or
log-probabilities when two zeros tie (``max`` does not say which zero it returns).
"""

from __future__ import annotations

import math

import numpy as np

from predaudit.dtypes import BF16
from predaudit.reduce.chunks import (
    _UNSHIFTED_HI,
    _UNSHIFTED_LO,
    LOG_PROB_TOL,
    PROB_TOL,
    Counts,
    LossRule,
    _margin,
    _Out,
    _true_class,
)
from predaudit.reduce.pool import _count_bad

MAX_CLASSES = 48
"""Largest number of classes the column kernels take (``benchmarks/bench_reduce.py
--crossover``, 2 busy cores, two runs: the column kernel 1.6x the row kernel at C = 32,
1.3-1.6x at 48, 0.84-0.99x at 64, 0.5-0.65x at 128). Read at each call, so tests can
force either kernel."""

_TARGET_CHUNK_BYTES = 1 << 20
"""Work bytes of one chunk's class-major block, as the row kernels (measured as good as
256 KiB-2 MiB on [1000000, 10], with fewer calls per row)."""


def column_chunk_rows(n_classes: int, chunk_rows: int | None, itemsize: int) -> int:
    """Rows per chunk for the column kernels (``chunk_rows`` when given)."""
    if chunk_rows is not None:
        return max(1, int(chunk_rows))
    return max(1, _TARGET_CHUNK_BYTES // (itemsize * max(1, n_classes)))


def labels_fit(y: np.ndarray, n_classes: int) -> bool:
    """Every class index in ``[0, C)`` (the column kernels index a flat block)."""
    return y.size == 0 or (int(y.min()) >= 0 and int(y.max()) < n_classes)


class ColumnBlock:
    """Per-thread buffers of the column kernels for chunks of at most ``rows`` rows."""

    def __init__(self, dtype: str, work: np.dtype, rows: int, n_classes: int) -> None:
        self.bf16 = dtype == BF16
        self.work = work
        self.c = n_classes
        self.xbuf = np.empty(rows * n_classes, dtype=work)
        self.dbuf = np.empty(rows * n_classes, dtype=work)
        self.top = np.empty(rows, dtype=work)
        self.sec = np.empty((2, rows), dtype=work)
        self.shift = np.empty(rows, dtype=work)
        small = np.uint8 if n_classes < 128 else np.int64  # k + C fits
        self.first = np.empty(rows, dtype=small)
        self.ne = np.empty(rows * n_classes, dtype=bool)
        self.cand = self.ne.view(np.uint8) if small == np.uint8 else np.empty_like(self.ne, small)
        self.ck_col = (n_classes - np.arange(n_classes)).astype(small)[:, None]
        self.index = np.empty(rows, dtype=np.int64)
        self.r_all = np.arange(rows, dtype=np.int64)
        self.acc = np.empty((8, rows))

    def load(self, raw: np.ndarray) -> np.ndarray:
        """The raw chunk ``[m, C]`` as a contiguous class-major ``[C, m]`` block (work dtype)."""
        m = raw.shape[0]
        xt = self.xbuf[: m * self.c].reshape(self.c, m)
        if self.bf16:
            np.left_shift(raw.T, 16, out=xt.view(np.uint32), dtype=np.uint32)
        else:
            np.copyto(xt, raw.T, casting="unsafe")
        return xt

    def block(self, m: int) -> np.ndarray:
        """The scratch block ``[C, m]``."""
        return self.dbuf[: m * self.c].reshape(self.c, m)

    def flat_index(self, cls: np.ndarray, m: int) -> np.ndarray:
        """Flat positions of ``(cls[i], i)`` in a ``[C, m]`` block."""
        idx = self.index[:m]
        np.multiply(cls, m, out=idx, dtype=np.int64)
        idx += self.r_all[:m]
        return idx

    def first_max(self, xt: np.ndarray, top: np.ndarray) -> np.ndarray:
        """Per row, the first class whose value equals ``top`` (``[m]``, uint8 below 128 classes).

        Branch-free: ``C`` minus the maximum over ``k`` of ``(C - k) * (xt[k] == top)``
        (some class equals the row's maximum, so the maximum is at least 1).
        """
        m = xt.shape[1]
        eq = self.ne[: self.c * m].reshape(self.c, m)
        np.equal(xt, top, out=eq)
        cand = self.cand[: self.c * m].reshape(self.c, m)
        np.multiply(eq, self.ck_col, out=cand, dtype=cand.dtype)
        first = np.maximum.reduce(cand, axis=0, out=self.first[:m])
        return np.subtract(self.c, first, out=first, dtype=first.dtype)

    def argmax(self, xt: np.ndarray, am: np.ndarray) -> np.ndarray:
        """Row maxima (the stored values) into ``top``, their first index into ``am``.

        The maximum over the classes, then the first class equal to it: the index
        of ``np.argmax`` (ties to the lower index; no NaN gets here).
        """
        m = xt.shape[1]
        top = self.top[:m]
        np.maximum.reduce(xt, axis=0, out=top)
        np.copyto(am, self.first_max(xt, top))
        if np.any(top == 0):  # the stored value: which zero's sign
            np.take(xt.reshape(-1), self.flat_index(am, m), out=top)
        return top

    def second(self, xt: np.ndarray, dt: np.ndarray, *, unshifted: bool) -> np.ndarray:
        """``x`` at the first arg-max of ``dt`` per row (``-inf`` where all ``dt`` are ``-inf``).

        ``unshifted``: ``dt`` is ``xt`` but at the arg-max, so the maximum of ``dt`` is
        that value itself, unless it is a zero (whose sign is the first one's).
        """
        m = xt.shape[1]
        sec_d, sec_x = self.sec[0, :m], self.sec[1, :m]
        np.maximum.reduce(dt, axis=0, out=sec_d)
        if unshifted and not np.any(sec_d == 0):
            return sec_d
        i2 = self.flat_index(self.first_max(dt, sec_d), m)
        np.take(xt.reshape(-1), i2, out=sec_x)
        np.copyto(sec_x, -np.inf, where=sec_d == -np.inf)
        return sec_x

    def rowsum(self, xt: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``xt.T.sum(axis=1, dtype=float64)`` in numpy's order (see the module docstring).

        The eight partial sums start as the first eight terms (C < 16) or as the sums of
        the first sixteen in pairs, formed straight from the block (a widened float32
        term is exact, so adding before or after widening is the same sum).
        """
        c = self.c
        f64 = np.float64
        if c < 8:
            np.copyto(out, xt[0])
            for k in range(1, c):
                np.add(out, xt[k], out=out, dtype=f64)
            return out
        m = xt.shape[1]
        acc = self.acc[:, :m]
        if c < 16:
            # ((s0+s1)+(s2+s3))+((s4+s5)+(s6+s7)) with s_j = x_j
            for j in (0, 2, 4, 6):
                np.add(xt[j], xt[j + 1], out=acc[j], dtype=f64)
            i = 8
        else:
            np.add(xt[:8], xt[8:16], out=acc, dtype=f64)
            i = 16
            while i + 8 <= c:
                np.add(acc, xt[i : i + 8], out=acc, dtype=f64)
                i += 8
            for j in (0, 2, 4, 6):
                np.add(acc[j], acc[j + 1], out=acc[j])
        np.add(acc[0], acc[2], out=acc[0])
        np.add(acc[4], acc[6], out=acc[4])
        np.add(acc[0], acc[4], out=out)
        for k in range(i, c):
            np.add(out, xt[k], out=out, dtype=f64)
        return out


def logits_columns(
    blk: ColumnBlock,
    raw: np.ndarray,
    y: np.ndarray,
    am: np.ndarray,
    mx: np.ndarray,
    zy: np.ndarray,
    second: np.ndarray,
    rest: np.ndarray,
    *,
    f32: bool,
) -> tuple[tuple[float, float, float, float, int], int, np.ndarray | None, np.ndarray]:
    """The logits passes of ``multiclass._logits_rows`` over one chunk, by columns.

    Fills ``am`` (the prediction), ``mx``, ``zy``, ``second`` and ``rest`` (float64,
    ``[m]``); returns the evidence, the number of dead rows, the shifted-row mask
    (float32) and the class-major block (for the float64 recheck).
    """
    xt = blk.load(raw)
    m = xt.shape[1]
    lo = float(xt.min())
    if math.isnan(lo):
        return (math.inf, -math.inf, math.inf, math.inf, _count_bad(xt)), 0, None, xt
    top = blk.argmax(xt, am)
    hi = float(top.max())
    if hi == math.inf:
        return (math.inf, -math.inf, math.inf, math.inf, _count_bad(xt)), 0, None, xt
    n_dead = int(np.count_nonzero(top == -np.inf))
    if n_dead:
        return (lo, hi, math.inf, math.inf, 0), n_dead, None, xt
    mx[:] = top
    zy[:] = xt.reshape(-1)[blk.flat_index(y, m)]
    shift = blk.shift[:m]
    shifted = None
    np.copyto(shift, top)
    if f32:
        shifted = (top < _UNSHIFTED_LO) | (top > _UNSHIFTED_HI)
        np.copyto(shift, 0, where=~shifted)  # the max where shifted, else +0
    dt = blk.block(m)
    np.subtract(xt, shift, out=dt)
    t = top - shift  # M - shift: M when unshifted, else 0
    dt.reshape(-1)[blk.flat_index(am, m)] = -np.inf
    second[:] = blk.second(xt, dt, unshifted=shifted is not None and not shifted.any())
    np.exp(dt, out=dt)
    blk.rowsum(dt, rest)
    rest /= np.exp(t)  # relative to exp(M - shift)
    dev = math.inf
    if lo >= 0:
        s = blk.rowsum(xt, np.empty(m))
        dev = float(np.max(np.abs(s - 1.0)))
    return (lo, hi, dev, math.inf, 0), 0, shifted, xt


def probs_columns(
    blk: ColumnBlock,
    raw: np.ndarray,
    y: np.ndarray,
    valid: np.ndarray,
    out: _Out,
    a: int,
    b: int,
    *,
    log_input: bool,
    rule: LossRule,
) -> Counts:
    """``chunks._probs_chunk`` (class indices) over one chunk, by columns."""
    xt = blk.load(raw)
    m = xt.shape[1]
    if math.isnan(float(xt.min())):
        out.fill_nan(a, b)
        return Counts(n_bad=_count_bad(xt))
    top = blk.argmax(xt, out.pred[a:b])
    if float(top.max()) == math.inf:
        out.fill_nan(a, b)
        return Counts(n_bad=_count_bad(xt))
    mx = top.astype(np.float64)
    n_dead = int(np.count_nonzero(mx == -np.inf)) if log_input else 0
    if n_dead:
        out.fill_nan(a, b)
        return Counts(n_dead=n_dead)
    dt = blk.block(m)
    s = np.empty(m)
    if log_input:
        n_out = int(np.count_nonzero(xt > LOG_PROB_TOL))
        np.subtract(xt, top, out=dt)
        np.exp(dt, out=dt)
        lse = mx + np.log(blk.rowsum(dt, s))
        n_rows = int(np.count_nonzero(~(np.abs(lse) <= PROB_TOL)))
    else:
        n_out = int(np.count_nonzero((xt < 0) | (xt > 1)))
        dev = np.abs(blk.rowsum(xt, s) - 1.0)
        n_rows = int(np.count_nonzero(~(dev <= PROB_TOL)))
    counts = Counts(n_outside=n_out, n_unnormalized=n_rows)
    iy = blk.flat_index(y, m)
    zy = xt.reshape(-1)[iy].astype(np.float64)
    lp_y, hit = _true_class(zy, mx, out, a, b, rule, log_input=log_input)
    # best other class: the max over the classes but the true one
    np.copyto(dt, xt)
    dt.reshape(-1)[iy] = -np.inf
    other = np.maximum.reduce(dt, axis=0).astype(np.float64)
    _margin(lp_y, other, out, a, b, rule, log_input=log_input)
    return counts.hits(rule, int(np.count_nonzero(hit & valid)))


def scan_columns(blk: ColumnBlock, raw: np.ndarray) -> tuple[float, float, float, float, int]:
    """``kind.scan_kind``'s evidence of one chunk ``[m, C]``, by columns (the same numbers)."""
    xt = blk.load(raw)
    m = xt.shape[1]
    lo, hi = float(xt.min()), float(xt.max())
    if math.isnan(lo) or math.isnan(hi) or hi == math.inf:
        return math.inf, -math.inf, math.inf, math.inf, _count_bad(xt)
    s = np.empty(m)
    dev = lse_abs = math.inf
    if lo >= 0:
        dev = float(np.max(np.abs(blk.rowsum(xt, s) - 1.0)))
    if hi <= 0:
        top = np.maximum.reduce(xt, axis=0, out=blk.top[:m])
        if not np.any(top == -np.inf):
            dt = blk.block(m)
            np.subtract(xt, top, out=dt)
            np.exp(dt, out=dt)
            lse_abs = float(np.max(np.abs(top + np.log(blk.rowsum(dt, s)))))
    return lo, hi, dev, lse_abs, 0
