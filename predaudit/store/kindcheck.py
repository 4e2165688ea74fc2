"""A forced ``--input-kind`` checked against the data, and the ``clip`` option.

Detected kinds fit the data by construction; a given one is checked here, epoch by
epoch, from the counts the reduction makes on the way (docs/design.md, "Score kinds").
"""

from __future__ import annotations

import math
import os

from predaudit.errors import InputError, OptionError
from predaudit.reduce import EpochStats
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
