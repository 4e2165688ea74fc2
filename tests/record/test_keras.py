"""Keras 3 with the torch backend: the callback predicts on the validation data each epoch.

The model is trained by tests/record/keras_run.py, which sets KERAS_BACKEND before
importing keras: in this process when keras is not imported yet, else in a subprocess.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812

import predaudit

pytestmark = [
    pytest.mark.frameworks,
    pytest.mark.skipif(importlib.util.find_spec("keras") is None, reason="keras is not installed"),
]
ROOT = Path(__file__).resolve().parents[2]


SCRIPT = Path(__file__).with_name("keras_run.py")


def train_both(out: Path) -> dict:
    if "keras" not in sys.modules:
        spec = importlib.util.spec_from_file_location("keras_run", SCRIPT)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if module.keras.backend.backend() == "torch":
            return module.run_all(str(out))
    env = dict(os.environ, KERAS_BACKEND="torch")
    res = subprocess.run(
        [sys.executable, str(SCRIPT), str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_keras_records_each_epoch(tmp_path):
    info = train_both(tmp_path)
    assert info["backend"] == "torch"
    for kind in ("logits", "probs"):  # a linear last layer, and a final softmax
        check(tmp_path / kind, kind, info["val_loss"][kind])


def check(out: Path, kind: str, val_loss: list[float]) -> None:
    run = predaudit.load_run(out)
    split = run.splits["val"]
    assert split.epochs == [1, 2, 3] and split.n_samples == 597
    assert split.input_kind == kind
    ours = [r.loss for r in predaudit.analyze(run, start="first").splits["val"].per_epoch]
    np.testing.assert_allclose(ours, val_loss, rtol=1e-5)
    for e, loss in zip(split.epochs, ours, strict=True):
        with np.load(out / "val" / f"epoch_{e:04d}.npz") as z:
            scores = torch.tensor(z[kind]).double()
            labels = torch.tensor(z["labels"])
        if kind == "probs":
            scores = scores.log()
        np.testing.assert_allclose(loss, float(F.cross_entropy(scores, labels)), rtol=1e-6)
