"""The one line every renderer shows when losses were floored or clipped (docs/design.md)."""

from __future__ import annotations


def epsilon(clip: float) -> str:
    """``1e-07`` as ``1e-7``; other values as ``%g`` writes them."""
    return f"{clip:g}".replace("e-0", "e-")


def loss_note(n_clipped: int, n_floored: int, clip: float | None) -> str | None:
    """Why some losses are not the exact ``-log p`` of the stored value; None when all are.

    >>> loss_note(0, 0, None) is None
    True
    >>> loss_note(0, 2, None)
    'Losses: 2 true-class probabilities of 0 floored at the smallest normal number of the dtype.'
    >>> loss_note(12, 0, 1e-7)
    'Losses: probabilities clipped to [1e-7, 1 − 1e-7] (--clip); 12 values clipped.'
    """
    parts = []
    if clip is not None:
        eps = epsilon(clip)
        values = "value" if n_clipped == 1 else "values"
        parts.append(
            f"probabilities clipped to [{eps}, 1 − {eps}] (--clip); {n_clipped} {values} clipped"
        )
    if n_floored:
        noun = "probability" if n_floored == 1 else "probabilities"
        parts.append(
            f"{n_floored} true-class {noun} of 0 floored at the smallest normal number of the dtype"
        )
    return f"Losses: {'; '.join(parts)}." if parts else None
