"""The binary reduction: a single sigmoid output per sample, in chunks of rows on the pool."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from predaudit.dtypes import BF16, bf16_to_float32
from predaudit.reduce.chunks import LOG_PROB_TOL, Counts, LossRule, _Out
from predaudit.reduce.pool import _count_bad, _run_chunks, _threads

_CHUNK_ROWS = 1 << 16
"""Rows per chunk (a dozen float64 temporaries of 512 KiB each): measured on the binary
[100, 1000000] run, ``analyze --no-temperature`` took 1.70 s at 2^15 rows, 1.58 s at
2^16 and 1.57 s at 2^17 (fewer numpy calls, and fewer hand-overs of the interpreter lock
between the pool's threads: a third fewer futex calls), 1.91 s at 2^14."""


def _log1mexp(lp: np.ndarray) -> np.ndarray:
    """``log(1 - exp(lp))`` for ``lp <= 0``, accurate at both ends (-inf at ``lp = 0``)."""
    return np.where(lp > -math.log(2.0), np.log(-np.expm1(lp)), np.log1p(-np.exp(lp)))


def _reduce_binary(
    scores: np.ndarray,
    y: np.ndarray,
    valid: np.ndarray,
    q: np.ndarray | None,
    out: _Out,
    *,
    kind: str,
    dtype: str,
    rule: LossRule,
    chunk_rows: int | None = None,
    threads: int | None = None,
) -> Counts:
    """A single sigmoid output per sample: ``p(1) = σ(s)`` (logits), ``s`` (probs) or ``exp(s)``.

    ``scores`` ``[N]``; every sample is computed on its own, so chunks and threads
    change nothing.
    """
    n = scores.shape[0]
    rows = max(1, int(chunk_rows)) if chunk_rows is not None else _CHUNK_ROWS

    def make_worker() -> Callable[[int, int], Counts]:
        scratch = _Scratch(min(rows, n))

        def run(a: int, b: int) -> Counts:
            qc = None if q is None else q[a:b]
            with np.errstate(all="ignore"):
                return _binary_chunk(
                    scores[a:b], y[a:b], valid[a:b], qc, out, a, b, kind=kind, dtype=dtype,
                    rule=rule, scratch=scratch,
                )  # fmt: skip

        return run

    counts = Counts.total(_run_chunks(n, rows, _threads(threads), make_worker))
    if counts.n_bad:
        out.fill_nan(0, n)
        return Counts(n_bad=counts.n_bad)
    return counts


def _binary_chunk(
    raw: np.ndarray,
    y: np.ndarray,
    valid: np.ndarray,
    q: np.ndarray | None,
    out: _Out,
    a: int,
    b: int,
    *,
    kind: str,
    dtype: str,
    rule: LossRule,
    scratch: _Scratch | None = None,
) -> Counts:
    """Samples ``[a, b)``, in float64.

    Logits: with ``z = s`` for class 1 and ``-s`` for class 0, ``-log p_y`` is
    ``softplus(-z) = max(-z, 0) + log1p(exp(-|s|))`` (two non-negative terms) and the
    confidence is ``exp(-log1p(exp(-|s|)))``.
    """
    m = b - a
    if scratch is None or scratch.rows < m:
        scratch = _Scratch(m)
    s = bf16_to_float32(raw) if dtype == BF16 else raw
    if s.dtype == np.float64:
        s = np.asarray(s)
    else:
        s = scratch.s[:m]
        np.copyto(s, bf16_to_float32(raw) if dtype == BF16 else raw, casting="unsafe")
    lo, hi = float(s.min(initial=np.inf)), float(s.max(initial=-np.inf))
    if math.isnan(lo) or hi == math.inf:  # a NaN makes the minimum NaN
        return Counts(n_bad=_count_bad(s))
    finite = lo > -math.inf  # then no log-probability below is -inf: no floor
    counts = Counts()
    sl = slice(a, b)
    if kind == "logits" and q is None and finite and rule.clip is None:
        _plain_logits(s, y, out, sl, scratch)
        return counts
    pos = y == 1
    if kind == "logits":
        out.pred[sl] = s > 0
        e = np.exp(-np.abs(s))  # 0 at s = ±inf
        soft = np.log1p(e)  # softplus(-|s|)
        z = np.where(pos, s, -s)
        lp_true = -(np.maximum(-z, 0.0) + soft)  # log sigmoid(z): -inf at z = -inf
        np.divide(1.0, 1.0 + e, out=out.confidence[sl])  # σ(|s|)
        # the margin of z = [0, s] as for several classes: -inf is floored at the
        # log-sum-exp (0 when s == -inf) plus the log of the floor
        lf = rule.log_floor
        if finite:
            out.margin[sl] = z
        else:
            out.margin[sl] = np.where(s == -np.inf, np.where(pos, lf, -lf), z)
        # p_y = σ(z): the confidence σ(|s|) where z >= 0, else e σ(|s|) = σ(-|s|)
        np.copyto(out.p_true[sl], np.where(z < 0, e * out.confidence[sl], out.confidence[sl]))
        if q is None:
            used, hit = rule.apply(lp_true)
            np.subtract(0.0, used, out=out.loss[sl])
            return counts.hits(rule, int(np.count_nonzero(hit & valid)))
        log_p1 = -(np.maximum(-s, 0.0) + soft)
        log_p0 = -(np.maximum(s, 0.0) + soft)
        used1, hit1 = rule.apply(log_p1)
        used0, hit0 = rule.apply(log_p0)
    else:
        if kind == "probs":
            counts.n_outside = int(np.count_nonzero((s < 0) | (s > 1)))
            p, lp1, lp0 = s, np.log(s), np.log1p(-s)  # -inf at p = 0 and p = 1
        else:
            counts.n_outside = int(np.count_nonzero(s > LOG_PROB_TOL))
            lp1 = np.minimum(s, 0.0)
            p, lp0 = np.exp(lp1), _log1mexp(lp1)
        out.pred[sl] = p > 0.5
        out.confidence[sl] = np.maximum(p, 1.0 - p)
        m1, m0 = rule.log_p(lp1), rule.log_p(lp0)
        out.margin[sl] = np.where(pos, m1 - m0, m0 - m1)
        log_p1, log_p0 = lp1, lp0
        out.p_true[sl] = np.where(pos, p, 1.0 - p)
        if kind == "probs" and rule.clip is not None:
            pc = np.clip(s, rule.clip, 1.0 - rule.clip)  # Keras's binary_crossentropy
            used1, used0 = np.log(pc), np.log(1.0 - pc)
            hit1 = hit0 = (s < rule.clip) | (s > 1.0 - rule.clip)
        else:
            used1, hit1 = rule.apply(log_p1)
            used0, hit0 = rule.apply(log_p0)
        if q is None:
            out.loss[sl] = 0.0 - np.where(pos, used1, used0)
            return counts.hits(rule, int(np.count_nonzero(np.where(pos, hit1, hit0) & valid)))
    assert q is not None
    t1 = np.where(q[:, 1] > 0, q[:, 1] * used1, 0.0)
    t0 = np.where(q[:, 0] > 0, q[:, 0] * used0, 0.0)
    out.loss[sl] = 0.0 - (t1 + t0)
    hits = np.count_nonzero(hit1 & (q[:, 1] > 0)) + np.count_nonzero(hit0 & (q[:, 0] > 0))
    return counts.hits(rule, int(hits))


class _Scratch:
    """One worker's float64 buffers for a chunk of up to ``rows`` samples."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.s, self.t, self.u, self.e = (np.empty(rows) for _ in range(4))
        self.neg = np.empty(rows, dtype=bool)


def _plain_logits(s: np.ndarray, y: np.ndarray, out: _Out, sl: slice, scratch: _Scratch) -> None:
    """Finite logits, index labels, no clip: the numbers of the general branch above, bit
    for bit, from whole-chunk SIMD passes into reused buffers (masked loops such as
    ``np.exp(..., where=)`` or ``np.copyto(..., where=)`` have no SIMD path: 3-6 times
    slower).

    ``e = exp(-|s|)``, ``soft = log1p(e)``; ``z = ±s`` (the margin: ``s`` for class 1,
    ``-s`` for class 0, a multiplication by ``±1``, exact); ``loss = max(-z, 0) + soft``;
    ``confidence = σ(|s|) = 1 / (1 + e)``; ``p_true = σ(z)``: the confidence where
    ``z >= 0``, else ``e`` times it (two ``exp`` fewer than ``exp(-soft)`` and
    ``exp(-loss)``, and as accurate: within two ulps).
    """
    m = s.shape[0]
    e, soft, t = scratch.e[:m], scratch.t[:m], scratch.u[:m]
    np.greater(s, 0.0, out=out.pred[sl], casting="unsafe")
    np.abs(s, out=e)
    np.negative(e, out=e)
    np.exp(e, out=e)
    np.log1p(e, out=soft)  # softplus(-|s|)
    z = out.margin[sl]
    np.equal(y, 1, out=scratch.neg[:m])
    np.multiply(scratch.neg[:m], 2.0, out=t)
    t -= 1.0
    np.multiply(s, t, out=z)
    loss = out.loss[sl]
    np.negative(z, out=t)
    np.maximum(t, 0.0, out=t)
    np.add(t, soft, out=loss)
    conf = out.confidence[sl]
    np.add(1.0, e, out=conf)
    np.divide(1.0, conf, out=conf)
    # e where z < 0, else 1 (e <= 1): the factor of p_true, without a masked loop
    np.greater_equal(z, 0.0, out=t, casting="unsafe")
    np.maximum(e, t, out=t)
    np.multiply(conf, t, out=out.p_true[sl])
