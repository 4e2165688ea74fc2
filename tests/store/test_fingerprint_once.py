"""A cached ``analyze`` fingerprints the run's files once per split: the statistics' lookup
(or store) and the temperatures' entry are checked against the same fingerprint, taken
before anything was read; a file changed since still makes both entries stale."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import predaudit
from predaudit.store import cache


def _run(folder: Path, n_epochs: int = 4, n: int = 60, c: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    labels = rng.integers(0, c, n)
    for e in range(1, n_epochs + 1):
        logits = (rng.normal(size=(n, c)) * (1 + e)).astype(np.float32)
        np.savez(folder / f"epoch_{e}.npz", logits=logits, labels=labels, ids=np.arange(n))
    return folder


def _analyze(run: Path, calls: list[int]) -> dict:  # type: ignore[type-arg]
    calls.clear()
    stats = predaudit.load_run(run, use_cache=True)
    return predaudit.analyze(stats).to_dict()  # type: ignore[no-any-return]


def test_one_fingerprint_per_command_and_a_change_still_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    run = _run(tmp_path / "run")
    calls: list[int] = []
    real = cache.fingerprint

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(cache, "fingerprint", spy)
    first = _analyze(run, calls)
    assert len(calls) == 1  # computed and stored: statistics and temperatures
    again = _analyze(run, calls)
    assert len(calls) == 1  # both read back from the cache
    assert again == first
    # a file rewritten (other scores, a later modification time): both entries stale
    z = dict(np.load(run / "epoch_4.npz"))
    z["logits"] = -z["logits"]
    np.savez(run / "epoch_4.npz", **z)
    st = os.stat(run / "epoch_4.npz")
    os.utime(run / "epoch_4.npz", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    changed = _analyze(run, calls)
    assert len(calls) == 1
    fresh = predaudit.analyze(predaudit.load_run(run)).to_dict()
    assert changed == fresh != first
    # the last epoch's loss is PyTorch's cross-entropy of the new scores
    split = predaudit.load_run(run, use_cache=True).splits["default"]
    ref = F.cross_entropy(
        torch.from_numpy(z["logits"].astype(np.float64)),
        torch.from_numpy(z["labels"]),
        reduction="none",
    )
    np.testing.assert_allclose(np.asarray(split.loss[3]), ref.numpy(), rtol=1e-6, atol=1e-7)
