"""A forced ``--input-kind`` checked against the data, and the ``clip`` option.

Detected kinds fit the data by construction; a given one is checked here, epoch by
epoch, from the counts the reduction makes on the way (docs/design.md, "Score kinds").
"""

from __future__ import annotations

import math
import os

import numpy as np

from predaudit.dtypes import BF16, bf16_to_float32
from predaudit.errors import InputError, OptionError
from predaudit.io.records import EpochPredictions
from predaudit.reduce import EpochStats, KindEvidence
from predaudit.reduce.chunks import LOG_PROB_TOL, PROB_TOL

# the tolerances as the messages write them
_TOL, _LOG_TOL = f"{PROB_TOL:.0e}".replace("e-0", "e-"), f"{LOG_PROB_TOL:.0e}".replace("e-0", "e-")


def check_clip(clip: float | None) -> float | None:
    """``clip`` as a float, or an :class:`OptionError` unless ``0 < clip < 0.5``."""
    if clip is None:
        return None
    try:
        value = float(clip)
    except (TypeError, ValueError):
        value = math.nan
    if not 0.0 < value < 0.5:
        raise OptionError(
            "expected a number ε with 0 < ε < 0.5 (probabilities are clipped to [ε, 1 − ε])",
            param="clip",
            value=str(clip),
        )
    return value


def _are(n: int) -> str:
    return "is" if n == 1 else "are"


def kind_error(
    path: str | os.PathLike[str], epoch: int, kind: str, st: EpochStats
) -> InputError | None:
    """The input error when the scores of this epoch are not of the given ``kind``, else None.

    ``run/epoch_3.npz: 12 rows of probabilities do not sum to 1 (within 1e-3) at
    epoch 3 (--input-kind probs)``.
    """
    n_out, n_rows = st.n_outside, st.n_unnormalized
    if kind == "logits" or not (n_out or n_rows):
        return None
    parts = []
    if kind == "probs":
        if n_out:
            noun = "probability" if n_out == 1 else "probabilities"
            parts.append(f"{n_out} {noun} {'lies' if n_out == 1 else 'lie'} outside [0, 1]")
        if n_rows:
            verb = "does not" if n_rows == 1 else "do not"
            of = " of probabilities" if not parts else ""
            row = "row" if n_rows == 1 else "rows"
            parts.append(f"{n_rows} {row}{of} {verb} sum to 1 (within {_TOL})")
    else:
        if n_out:
            noun = "log-probability" if n_out == 1 else "log-probabilities"
            parts.append(f"{n_out} {noun} {_are(n_out)} above 0 (by more than {_LOG_TOL})")
        if n_rows:
            verb = "does not" if n_rows == 1 else "do not"
            of = " of log-probabilities" if not parts else ""
            row = "row" if n_rows == 1 else "rows"
            parts.append(f"{n_rows} {row}{of} {verb} have a log-sum-exp of 0 (within {_TOL})")
    return InputError(path, f"{' and '.join(parts)} at epoch {epoch} (--input-kind {kind})")


_KIND_NOUNS = {
    "logits": ("logit", "logits"),
    "probs": ("probability", "probabilities"),
    "log_probs": ("log-probability", "log-probabilities"),
}


def nonfinite_error(ep: EpochPredictions, kind: str | None) -> InputError:
    """``epoch_7.npz: 2 logits are NaN and 1 is +inf at epoch 7 (...)``, counted in row chunks."""
    n_nan = n_inf = 0
    rows = max(1, (1 << 20) // max(1, int(np.prod(ep.scores.shape[1:], dtype=np.int64))))
    for a in range(0, ep.scores.shape[0], rows):
        chunk = ep.scores[a : a + rows]
        x = bf16_to_float32(chunk) if ep.scores_dtype == BF16 else np.asarray(chunk)
        n_nan += int(np.count_nonzero(np.isnan(x)))
        n_inf += int(np.count_nonzero(x == np.inf))
    one, many = _KIND_NOUNS.get(kind or "", ("score", "scores"))
    parts = []
    if n_nan:
        parts.append(f"{n_nan} {one if n_nan == 1 else many} {'is' if n_nan == 1 else 'are'} NaN")
    if n_inf:
        noun = f"{one if n_inf == 1 else many} " if not parts else ""
        parts.append(f"{n_inf} {noun}{'is' if n_inf == 1 else 'are'} +inf")
    what = " and ".join(parts) or "scores are not finite"
    return InputError(
        ep.path,
        f"{what} at epoch {ep.epoch} (only -inf is accepted, as an impossible class)",
    )


_CLAIMS = {"probs": "probs", "probabilities": "probs", "log_probs": "log_probs"}
"""Score keys that name the kind (``logits`` does not: softmax outputs saved under it are
common, and the values decide)."""


def claim_error(
    ep: EpochPredictions, seen: str, ev: KindEvidence, *, single: bool = False
) -> InputError | None:
    """The input error when the key of ``ep``'s scores names a kind (``probs``,
    ``probabilities``, ``log_probs``) that detection from the values (``seen``, with the
    evidence ``ev``; ``single``: one score per sample) does not find, else None. Reading
    them as another kind would be a guess; ``--input-kind`` says which they are.

    ``run/probs.npy: the scores are named 'probs' but are not probabilities at epoch 1:
    values lie outside [0, 1] (-0.31 to 1.2); pass --input-kind to say what they are``.
    """
    claimed = _CLAIMS.get(ep.scores_key)
    if claimed is None or claimed == seen:
        return None
    if single and claimed == "log_probs":  # one score: probabilities if in [0, 1], else logits
        why = "one score per sample is read as a probability or a logit"
    elif claimed == "probs" and (ev.min < 0.0 or ev.max > 1.0):
        why = f"values lie outside [0, 1] ({ev.min:.3g} to {ev.max:.3g})"
    elif claimed == "probs":
        why = f"rows sum to as far as {ev.max_rowsum_dev:.3g} from 1 (more than {_TOL})"
    elif ev.max > LOG_PROB_TOL:
        why = f"values lie above 0 (up to {ev.max:.3g})"
    else:
        why = f"rows have a log-sum-exp as far as {ev.max_lse_abs:.3g} from 0 (more than {_TOL})"
    noun = _KIND_NOUNS[claimed][1]
    return InputError(
        ep.path,
        f"the scores are named '{ep.scores_key}' but are not {noun} at epoch {ep.epoch}: "
        f"{why}; pass --input-kind to say what they are",
    )
