"""The multiclass reduction: the logits kernel and the probability kernels over row chunks."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

import predaudit.reduce.columns as columns
from predaudit.reduce.chunks import (
    _F64_RECHECK,
    _UNSHIFTED_HI,
    _UNSHIFTED_LO,
    Counts,
    LossRule,
    _bad_evidence,
    _Evidence,
    _Out,
    _probs_chunk,
    _soft_dot,
)
from predaudit.reduce.columns import (
    ColumnBlock,
    column_chunk_rows,
    labels_fit,
    logits_columns,
    probs_columns,
)
from predaudit.reduce.kind import KindEvidence, _merge_evidence
from predaudit.reduce.pool import (
    _chunk_rows,
    _Converter,
    _run_chunks,
    _threads,
    _work_dtype,
)


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
    rule: LossRule,
) -> tuple[Counts, KindEvidence]:
    """Logits: returns the counts (clipped, floored, NaN/+inf, dead rows) and the kind evidence.

    With ``M = max_k z_k`` and ``R = sum_{k != argmax} exp(z_k - M)`` the loss
    is ``(M - z_y) + log1p(R)``: two non-negative terms, no cancellation. A chunk
    first makes the passes over its ``[m, C]`` data (argmax, min, shift, second
    best, exp, row sum), leaving per-row results (max, true-class score, best
    other score, ``R``) in per-thread vectors, then forms the statistics from
    them (:func:`_logits_tail`). Up to ``columns.MAX_CLASSES`` classes with class
    indices, the passes run by columns (:mod:`predaudit.reduce.columns`, the same
    numbers bit for bit).

    float32 precision: rows whose max lies in ``[-20, 88]`` take ``exp(z_k)``
    unshifted (``z_k`` is exact, so every term is within an ulp whatever its gap
    to the max) and divide the sum by ``exp(M)``; other rows are shifted by
    their max (exact, by Sterbenz's lemma, for the terms that matter once
    ``|M| >= 60``), and those of them with ``R < 1e-5`` where the true class is
    the max are recomputed in float64.

    ``rule``: a true class at -inf (p = 0) is floored at the input dtype's smallest
    normal number; with a clip, ``p_y`` (or every ``p_k`` with target mass) is
    clipped to ``[ε, 1 − ε]``.
    """
    n, c = scores.shape
    work = _work_dtype(scores, dtype)
    by_columns = q is None and c <= columns.MAX_CLASSES and labels_fit(y, c)
    if by_columns:
        rows = column_chunk_rows(c, chunk_rows, work.itemsize)
    else:
        rows = _chunk_rows(c, chunk_rows, work.itemsize)
    f32 = work == np.float32
    pred = out.pred
    # short chunks (many classes) leave their per-row results in per-sample arrays
    # and the statistics are formed once over the epoch (fewer calls per row)
    epoch_tail = rows < _TAIL_ROWS
    if epoch_tail:
        all_mx, all_zy, all_second, all_rest = (np.empty(n) for _ in range(4))
        soft_all = None if q is None else np.empty((3, n))

    def make_worker() -> Callable[[int, int], _ChunkResult]:
        size = min(rows, n)
        if not epoch_tail:
            mx, zy, second, rest = (np.empty(size) for _ in range(4))
            soft = None if q is None else np.empty((3, size))
        conv = None if by_columns else _Converter(dtype, work, rows, c)
        blk = ColumnBlock(dtype, work, size, c) if by_columns else None
        scratch = None if by_columns else np.empty((size, c), dtype=work)
        r_all = np.arange(rows)

        def run(a: int, b: int) -> _ChunkResult:
            m = b - a
            if epoch_tail:
                v = (all_mx[a:b], all_zy[a:b], all_second[a:b], all_rest[a:b])
                sv = None if soft_all is None else soft_all[:, a:b]
            else:
                v = (mx[:m], zy[:m], second[:m], rest[:m])
                sv = None if soft is None else soft[:, :m]
            with np.errstate(all="ignore"):
                if blk is not None:
                    ev, n_dead, shifted, xt = logits_columns(
                        blk, scores[a:b], y[a:b], pred[a:b], *v, f32=f32
                    )
                    if ev[4] or n_dead:
                        return ev, n_dead, 0, 0.0
                    if shifted is not None and shifted.any():
                        _recheck(xt.T, pred[a:b], v[0], v[1], v[3], shifted)
                    n_masked = 0
                else:
                    assert conv is not None and scratch is not None
                    x = conv(scores[a:b])
                    ev, n_dead, n_masked = _logits_rows(
                        x, y[a:b], q, a, b, pred[a:b], *v, sv, scratch[:m], r_all[:m],
                        f32=f32, rule=rule,
                    )  # fmt: skip
                    if ev[4] or n_dead:
                        return ev, n_dead, 0, 0.0
                if epoch_tail:
                    return ev, 0, n_masked, 0.0
                n_hits, lse = _logits_tail(
                    out, a, b, y[a:b], valid[a:b], q, *v, sv, rule=rule, lse=ev[1] <= 0
                )
            return ev, 0, n_hits + n_masked, lse

        return run

    parts = _run_chunks(n, rows, _threads(threads), make_worker)
    ev = _merge_evidence([p[0] for p in parts])
    n_dead = sum(p[1] for p in parts)
    if ev.n_nonfinite or n_dead:
        out.fill_nan(0, n)
        return Counts(n_bad=ev.n_nonfinite, n_dead=n_dead), ev
    n_hits = sum(p[2] for p in parts)
    lse_abs = max((p[3] for p in parts), default=0.0)
    if epoch_tail:
        with np.errstate(all="ignore"):
            tail_hits, lse_abs = _logits_tail(
                out, 0, n, y, valid, q, all_mx, all_zy, all_second, all_rest, soft_all,
                rule=rule, lse=ev.max <= 0,
            )  # fmt: skip
        n_hits += tail_hits
    counts = Counts().hits(rule, n_hits)
    lse_abs = lse_abs if ev.max <= 0 else math.inf
    return counts, KindEvidence(ev.min, ev.max, ev.max_rowsum_dev, lse_abs, 0)


_ChunkResult = tuple[_Evidence, int, int, float]
_TAIL_ROWS = 4096
"""Chunks shorter than this form their statistics over the whole epoch at the end."""


def _logits_rows(
    x: np.ndarray,
    y: np.ndarray,
    q: np.ndarray | None,
    a: int,
    b: int,
    am: np.ndarray,
    mx: np.ndarray,
    zy: np.ndarray,
    second: np.ndarray,
    rest: np.ndarray,
    soft: np.ndarray | None,
    d: np.ndarray,
    r: np.ndarray,
    *,
    f32: bool,
    rule: LossRule,
) -> tuple[_Evidence, int, int]:
    """The passes over a row-major chunk ``x`` ``[m, C]``: fills ``am``, ``mx``, ``zy``,
    ``second``, ``rest`` (and with soft targets ``soft``: the dot, the mass on -inf
    classes, the clipped loss); returns the evidence, dead rows and masked target pairs."""
    # numpy's argmax copies a read-only array (a memory-mapped file) whole first: such a
    # chunk is copied into d at once, every pass reads d, and d is shifted in place
    src = x if x.flags.writeable else d
    if src is d:
        np.copyto(d, x)
    np.argmax(src, axis=1, out=am)  # ties to the lower index
    top = src[r, am]  # a NaN or +inf wins the argmax
    lo = float(src.min())
    hi = float(top.max())
    if math.isnan(lo) or hi == math.inf:
        return _bad_evidence(x), 0, 0
    n_dead = int(np.count_nonzero(top == -np.inf))
    if n_dead:
        return (lo, hi, math.inf, math.inf, 0), n_dead, 0
    mx[:] = top
    zy[:] = src[r, y]
    shifted = (top < _UNSHIFTED_LO) | (top > _UNSHIFTED_HI) if f32 else None
    shift = top if shifted is None else np.where(shifted, top, 0) if shifted.any() else None
    if shift is not None:
        np.subtract(src, shift[:, None], out=d)
    elif src is not d:  # x - 0 is x, bit for bit (a zero's sign too)
        np.copyto(d, x)
    t = d[r, am]  # M - shift: M when unshifted, else 0
    d[r, am] = -np.inf
    i2 = np.argmax(d, axis=1)  # the best class other than the arg-max
    second[:] = np.where(d[r, i2] == -np.inf, -np.inf, x[r, i2])
    np.exp(d, out=d)
    np.sum(d, axis=1, dtype=np.float64, out=rest)
    rest /= np.exp(t)  # relative to exp(M - shift)
    n_masked = 0
    if q is not None:
        assert soft is not None
        soft[0], soft[1], n_masked = _soft_dot(q[a:b], x.astype(np.float64) - mx[:, None])
    if shifted is not None and shifted.any():
        _recheck(x, am, mx, zy, rest, shifted)
    if q is not None and rule.clip is not None:
        # soft targets under a clip: -sum_k q_k log clip(p_k) (needs every p_k)
        assert soft is not None
        lp = (x.astype(np.float64) - mx[:, None]) - np.log1p(rest)[:, None]
        logp, hit = rule.apply(lp)
        pos = q[a:b] > 0
        soft[2] = -np.where(pos, q[a:b] * logp, 0.0).sum(axis=1)
        n_masked = int(np.count_nonzero(hit & pos))
    dev = math.inf
    if lo >= 0:
        dev = float(np.max(np.abs(x.sum(axis=1, dtype=np.float64) - 1.0)))
    return (lo, hi, dev, math.inf, 0), 0, n_masked


def _logits_tail(
    out: _Out,
    a: int,
    b: int,
    y: np.ndarray,
    valid: np.ndarray,
    q: np.ndarray | None,
    mx: np.ndarray,
    zy: np.ndarray,
    second: np.ndarray,
    rest: np.ndarray,
    soft: np.ndarray | None,
    *,
    rule: LossRule,
    lse: bool,
) -> tuple[int, float]:
    """The statistics of rows ``[a, b)`` from their per-row results; returns the values
    floored or clipped (hard labels) and ``max |log-sum-exp|`` (0 unless ``lse``)."""
    log_floor = rule.log_floor
    log_rest = np.log1p(rest)  # log-sum-exp = M + log_rest
    true_masked = zy == -np.inf
    loss = out.loss[a:b]  # (the hard-label loss; replaced below in the other cases)
    np.subtract(mx, zy, out=loss)  # the gap is exact for float32 inputs
    loss += log_rest
    p_true = out.p_true[a:b]
    np.negative(loss, out=p_true)
    np.exp(p_true, out=p_true)
    # margin on logits: z_y - max_{k != y} z_k, exact. An -inf on either side is
    # floored at log-sum-exp + log(floor) (p = the floor), so it stays finite.
    no_other = second == -np.inf
    any_masked = bool(true_masked.any())
    if any_masked or no_other.any():
        floor = mx + log_rest + log_floor
        other = np.where(no_other, floor, second)
        z_true = np.where(true_masked, floor, zy)
    else:  # the same numbers without the floor
        other, z_true = second, zy
    best_other = np.where(out.pred[a:b] == y, other, mx)
    np.subtract(z_true, best_other, out=out.margin[a:b])
    n_hits = 0
    if q is None and rule.clip is None:
        # only a masked true class is floored: a loss that overflowed stays inf
        if any_masked:
            n_hits = int(np.count_nonzero(true_masked & valid))
            np.copyto(loss, -log_floor, where=true_masked)
    elif q is None:
        used, hit = rule.apply(-loss)  # log p_y, clipped
        n_hits = int(np.count_nonzero(hit & valid))
        np.subtract(0.0, used, out=loss)
    elif rule.clip is not None:
        assert soft is not None
        np.copyto(loss, soft[2])
    else:
        # -sum_k q_k log p_k with log p_k = (z_k - M) - log_rest; a masked class
        # with target mass has log p_k floored.
        assert soft is not None
        dot, q_masked = soft[0], soft[1]
        qs = q[a:b].sum(axis=1) - q_masked
        np.copyto(loss, qs * log_rest - dot - q_masked * log_floor)
    conf = out.confidence[a:b]
    np.add(1.0, rest, out=conf)
    np.divide(1.0, conf, out=conf)
    lse_abs = float(np.max(np.abs(mx + log_rest), initial=0.0)) if lse else 0.0
    return n_hits, lse_abs


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
        d64 = np.ascontiguousarray(x[rows], dtype=np.float64) - mx[rows, None]
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
    rule: LossRule,
) -> tuple[Counts, KindEvidence | None]:
    """Returns the counts and (logits only) the kind evidence."""
    if kind == "logits":
        return _reduce_logits(
            scores, y, valid, q, out, dtype=dtype, chunk_rows=chunk_rows, threads=threads,
            rule=rule,
        )  # fmt: skip
    n, c = scores.shape
    work = _work_dtype(scores, dtype)
    by_columns = q is None and c <= columns.MAX_CLASSES and labels_fit(y, c)
    if by_columns:
        rows = column_chunk_rows(c, chunk_rows, work.itemsize)
    else:
        rows = _chunk_rows(c, chunk_rows, work.itemsize)
    log_input = kind == "log_probs"

    def make_worker() -> Callable[[int, int], Counts]:
        if by_columns:
            blk = ColumnBlock(dtype, work, min(rows, n), c)

            def by_col(a: int, b: int) -> Counts:
                with np.errstate(all="ignore"):
                    return probs_columns(
                        blk, scores[a:b], y[a:b], valid[a:b], out, a, b, log_input=log_input,
                        rule=rule,
                    )  # fmt: skip

            return by_col
        conv = _Converter(dtype, work, rows, c)
        scratch = np.empty((min(rows, n), c), dtype=work)

        def run(a: int, b: int) -> Counts:
            x = conv(scores[a:b])
            qc = None if q is None else q[a:b]
            with np.errstate(all="ignore"):
                return _probs_chunk(
                    x, y[a:b], valid[a:b], qc, scratch, out, a, b, log_input=log_input, rule=rule
                )

        return run

    parts = _run_chunks(n, rows, _threads(threads), make_worker)
    return Counts.total(parts), None
