"""Small synthetic runs for the check tests, and an independent numpy reference.

Not a test module: imported by ``test_checks*.py`` and ``test_ci_subprocess.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.special import logsumexp

N, C = 120, 3


def rising_logits(seed: int = 0, n_epochs: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Logits [E, N, C] and labels [N] where loss rises, accuracy stays at 80%, and the
    samples that stay wrong grow more confidently wrong (the hypothesis is supported)."""
    rng = np.random.default_rng(seed)
    y = np.arange(N) % C
    wrong = np.arange(N) < N // 5
    logits = np.empty((n_epochs, N, C))
    for e in range(n_epochs):
        z = rng.normal(scale=0.1, size=(N, C))
        z[np.arange(N), y] += 2.0
        z[wrong, (y[wrong] + 1) % C] += 3.0 + 2.0 * e
        logits[e] = z
    return logits, y


def falling_logits(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Logits where loss falls at every epoch (the hypothesis is not applicable)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, C, N)
    base = rng.normal(size=(N, C))
    logits = np.stack([base.copy() for _ in range(3)])
    logits[:, np.arange(N), y] += np.array([0.0, 1.0, 2.0])[:, None]
    return logits, y


def save(folder: Path, logits: np.ndarray, y: np.ndarray) -> Path:
    """A stacked run: ``logits.npy`` [E, N, C] and ``labels.npy`` [N]."""
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "logits.npy", logits)
    np.save(folder / "labels.npy", y)
    return folder


def reference(logits: np.ndarray, y: np.ndarray) -> dict:
    """The check metrics computed directly with numpy/scipy, by docs/design.md."""
    n = y.shape[0]
    per_sample = logsumexp(logits, axis=-1) - logits[:, np.arange(n), y]  # [E, N]
    losses = per_sample.mean(axis=1)
    correct = logits.argmax(axis=-1) == y
    accs = correct.mean(axis=1)
    b = len(losses) - 1
    a = int(np.argmin(losses[: b + 1]))
    if a == b:
        a = 0
    delta = losses[b] - losses[a]
    ww = ~correct[a] & ~correct[b]
    share = (per_sample[b] - per_sample[a])[ww].sum() / n / delta if delta > 0 else None
    return {
        "loss": losses[b],
        "accuracy": accs[b],
        "best_loss": losses.min(),
        "best_accuracy": accs.max(),
        "delta_loss": delta,
        "delta_accuracy": accs[b] - accs[a],
        "ww_share": share,
    }
