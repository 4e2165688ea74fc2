"""Two processes (torch.distributed, gloo) write shards; reading merges them by id."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import predaudit

pytestmark = pytest.mark.frameworks
ROOT = Path(__file__).resolve().parents[2]
N = 597


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_processes_write_shards_merged_on_read(tmp_path):
    out = tmp_path / "run"
    script = str(Path(__file__).with_name("dist_run.py"))
    port = str(free_port())
    procs = [
        subprocess.Popen(
            [sys.executable, script, str(rank), "2", port, str(out)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    results = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err[-3000:]
    reference = json.loads(results[0][0].strip().splitlines()[-1])["loss"]
    names = sorted(p.name for p in (out / "val").iterdir())
    assert names == [f"epoch_000{e}.rank{r}.npz" for e in (1, 2) for r in (0, 1)]
    rows = 0
    for r in (0, 1):
        with np.load(out / "val" / f"epoch_0001.rank{r}.npz") as z:
            rows += len(z["ids"])
    assert rows == N + 1  # the padding duplicate is in the shards ...
    run = predaudit.load_run(out)
    split = run.splits["val"]
    assert split.n_samples == N and split.epochs == [1, 2]  # ... and dropped when reading
    losses = [r.loss for r in predaudit.analyze(run, start="first").splits["val"].per_epoch]
    np.testing.assert_allclose(losses, reference, rtol=1e-6)
