"""A synthetic stacked run for the confusion tests (analysis and CLI)."""

from __future__ import annotations

import numpy as np


def write_run(
    folder,
    *,
    n_epochs=5,
    n=400,
    n_classes=10,
    seed=0,
    n_ignored=15,
    never_true=(8, 9),
    never_pred=(9,),
    ids=True,
):
    """A stacked run whose logits sharpen with the epoch; returns (logits, labels).

    Classes in ``never_true`` have no samples (class 8 is still predicted now and
    then); classes in ``never_pred`` always score far below the others. The first
    ``n_ignored`` samples are labelled -100. Rows are shuffled with their ids.
    """
    rng = np.random.default_rng(seed)
    present = [k for k in range(n_classes) if k not in never_true]
    y = rng.choice(present, n)
    base = rng.normal(size=(n, n_classes))
    base[np.arange(n), y] += 1.0
    logits = np.stack(
        [base * (1 + 0.5 * e) + 0.8 * rng.normal(size=(n, n_classes)) for e in range(n_epochs)]
    )
    for k in never_pred:
        logits[..., k] = -40.0
    y[:n_ignored] = -100
    order = rng.permutation(n)
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "logits.npy", logits[:, order])
    np.save(folder / "labels.npy", y[order])
    if ids:
        np.save(folder / "ids.npy", np.arange(n)[order] + 1000)
    return logits, y
