"""Chunks of scores as temperature scaling reads them, and per-sample values at a temperature.

A chunk is ``scores`` ``[n, C]`` (float16, float32 or float64) with integer
``labels`` ``[n]`` (``ignore_index``, default -100, marks samples that do not
count). ``kind`` says what the scores are:

* ``"logits"``: ``z``; the model at temperature ``T`` is ``softmax(z / T)``.
* ``"log_probs"``: ``log p``; handled exactly as logits (a row's
  log-normaliser is a per-row shift, which ``softmax(· / T)`` ignores).
  ``-inf`` (``p = 0``) is floored at the log of the dtype's smallest normal.
* ``"probs"``: ``p``; temperature acts on ``log p``, with ``p = 0`` floored at
  the smallest normal of the dtype (``np.finfo(dtype).tiny``). At ``T = 1``
  this is ``p`` renormalised to sum to 1.

A binary model may give one score per sample, ``[n]``: the logit (or
probability, or log-probability) of class 1, read as the two classes
``[0, z]`` (``[1 - p, p]``). All arithmetic is in float64; losses are in nats.
"""

from __future__ import annotations

import numpy as np

from predaudit.report.vocab import IGNORE_INDEX
from predaudit.report.vocab import InputKind as Kind


def _floor_log(dtype: np.dtype) -> float:
    info = np.finfo(dtype if dtype.kind == "f" and dtype.itemsize <= 8 else np.float64)
    return float(np.log(np.float64(info.tiny)))


def base_scores(scores: np.ndarray, *, kind: Kind = "logits") -> np.ndarray:
    """The float64 ``[n, C]`` scores ``z`` with ``softmax(z / T)`` the model at temperature ``T``.

    Raises ValueError on NaN, on ``+inf``, on ``-inf`` logits and on negative
    probabilities.
    """
    x = np.asarray(scores)
    if x.ndim not in (1, 2):
        raise ValueError(f"scores must have shape [n, C] or [n], got {x.shape}")
    if x.dtype.kind not in "fiu":
        raise ValueError(f"scores must be numbers, got dtype {x.dtype}")
    floor = _floor_log(x.dtype)
    z = x.astype(np.float64)
    if np.isnan(z).any() or (z == np.inf).any():
        raise ValueError("scores contain NaN or +inf")
    if kind == "logits":
        if (z == -np.inf).any():
            raise ValueError("logits contain -inf")
        if z.ndim == 1:
            z = np.stack([np.zeros_like(z), z], axis=1)
        return z
    if kind == "log_probs":
        if z.ndim == 1:
            with np.errstate(divide="ignore"):
                z = np.stack([np.log(-np.expm1(np.minimum(z, 0.0))), z], axis=1)
        return np.maximum(z, floor)
    if kind == "probs":
        if (z < 0).any():
            raise ValueError("probabilities must be non-negative")
        if z.ndim == 1:
            if (z > 1).any():
                raise ValueError("binary probabilities must be within [0, 1]")
            z = np.stack([1.0 - z, z], axis=1)
        with np.errstate(divide="ignore"):
            return np.maximum(np.log(z), floor)
    raise ValueError(f"kind must be 'logits', 'log_probs' or 'probs', got {kind!r}")


def check_labels(labels: np.ndarray, n: int, c: int, ignore_index: int) -> np.ndarray:
    """``[n]`` bool mask of the samples that count; raises ValueError on bad labels."""
    y = np.asarray(labels)
    if y.shape != (n,):
        raise ValueError(f"labels must have shape [{n}], got {y.shape}")
    if y.dtype.kind not in "iub":
        raise ValueError(f"labels must be integers, got dtype {y.dtype}")
    valid = y != ignore_index
    yv = y[valid]
    if yv.size and (yv.min() < 0 or yv.max() >= c):
        raise ValueError(f"labels must be in [0, {c}) or {ignore_index}")
    return valid


def _check_temperature(temperature: float) -> float:
    t = float(temperature)
    if not (t > 0 and np.isfinite(t)):
        raise ValueError(f"temperature must be positive and finite, got {temperature}")
    return t


def scaled_probabilities(
    scores: np.ndarray, *, temperature: float = 1.0, kind: Kind = "logits"
) -> np.ndarray:
    """``softmax(z / T)``, ``[n, C]`` float64 (``[n, 2]`` for one score per sample)."""
    t = _check_temperature(temperature)
    s = base_scores(scores, kind=kind) / t
    e = np.exp(s - s.max(axis=1, keepdims=True))
    e /= e.sum(axis=1, keepdims=True)
    return e


def _valid_rows(
    scores: np.ndarray, labels: np.ndarray, kind: Kind, ignore_index: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    z = base_scores(scores, kind=kind)
    valid = check_labels(labels, z.shape[0], z.shape[1], ignore_index)
    return z[valid], np.asarray(labels)[valid].astype(np.int64), valid


def loss_at_temperature(
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    temperature: float,
    kind: Kind = "logits",
    ignore_index: int = IGNORE_INDEX,
) -> np.ndarray:
    """Per-sample NLL ``-log softmax(z / T)_y``, ``[n]`` float64 nats; NaN where ignored.

    Computed as ``(M - s_y) + log1p(sum_{k != argmax} exp(s_k - M))`` with
    ``s = z / T`` and ``M = max s``: two non-negative terms, so a tiny loss
    keeps its relative precision.
    """
    t = _check_temperature(temperature)
    z, y, valid = _valid_rows(scores, labels, kind, ignore_index)
    out = np.full(valid.shape[0], np.nan)
    if y.size:
        s = z / t
        r = np.arange(y.size)
        am = np.argmax(s, axis=1)
        d = s - s[r, am][:, None]
        e = np.exp(d)
        e[r, am] = 0.0
        out[valid] = -d[r, y] + np.log1p(e.sum(axis=1))
    return out


def brier_score(
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    temperature: float = 1.0,
    kind: Kind = "logits",
    ignore_index: int = IGNORE_INDEX,
) -> np.ndarray:
    """Per-sample Brier score ``sum_k (p_k - onehot(y)_k)^2`` in ``[0, 2]``; NaN where ignored.

    ``p = softmax(z / T)``. (For one score per sample, the two classes count:
    this is twice the binary ``(p_1 - y)^2``.)
    """
    p = scaled_probabilities(scores, temperature=temperature, kind=kind)
    valid = check_labels(labels, p.shape[0], p.shape[1], ignore_index)
    out = np.full(p.shape[0], np.nan)
    pv = p[valid]
    y = np.asarray(labels)[valid].astype(np.int64)
    if y.size:
        r = np.arange(y.size)
        py = pv[r, y]
        pv[r, y] = 0.0
        out[valid] = (1.0 - py) ** 2 + np.sum(pv * pv, axis=1)
    return out
