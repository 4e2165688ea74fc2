"""Predictions saved the way Keras and Lightning users save them, read by predaudit.

Tiny models trained on sklearn's ``load_digits`` (nothing is downloaded) with the real
frameworks on CPU:

* Keras 3 (torch backend): a callback ``np.save``-s ``model.predict`` (softmax
  probabilities) as ``preds_epoch001.npy`` … beside one ``y_test.npy``. The backend
  is chosen before keras is imported: in this process when keras is not imported yet,
  else by running this file as a script in a subprocess.
* Lightning: ``on_validation_epoch_end`` saves the validation logits and labels with
  ``torch.save`` as ``predictions.pt`` in folders named like Lightning's checkpoints,
  ``epoch=0-step=19/`` …: evaluations labelled by the global step.

The per-epoch mean losses must be PyTorch's ``cross_entropy`` of the saved values.
"""

from __future__ import annotations

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
from predaudit.render.analyze import analyze_json

pytestmark = pytest.mark.frameworks
ROOT = Path(__file__).resolve().parents[2]


def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    return x[:1200], y[:1200], x[1200:], y[1200:]


def train_keras(out: str) -> str:
    """Train 3 epochs, saving the test predictions after each; return the backend used."""
    os.environ["KERAS_BACKEND"] = "torch"
    import keras

    x_train, y_train, x_test, y_test = _digits()
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    np.save(out_dir / "y_test.npy", y_test)

    class SavePredictions(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):  # type: ignore[no-untyped-def]
            e = epoch + 1
            np.save(out_dir / f"preds_epoch{e:03d}.npy", self.model.predict(x_test, verbose=0))

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.fit(x_train, y_train, epochs=3, batch_size=64, verbose=0, callbacks=[SavePredictions()])
    return str(keras.backend.backend())


def _keras_into(out: Path) -> str:
    if "keras" not in sys.modules:
        return train_keras(str(out))
    env = dict(os.environ, KERAS_BACKEND="torch")
    res = subprocess.run(
        [sys.executable, __file__, str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout.strip().splitlines()[-1]


def _per_epoch_losses(run: predaudit.RunStats, split: str) -> list[float]:
    report = predaudit.analyze(run, start="first", temperature=False)
    return [r.loss for r in report.splits[split].per_epoch]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_keras_predict_saved_per_epoch(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert _keras_into(out) == "torch"
    assert sorted(p.name for p in out.iterdir()) == [
        "preds_epoch001.npy", "preds_epoch002.npy", "preds_epoch003.npy", "y_test.npy",
    ]  # fmt: skip
    run = predaudit.load_run(out)
    (name,) = run.splits
    split = run.splits[name]
    assert split.epochs == [1, 2, 3] and split.n_samples == 597
    assert predaudit.inspect(run).splits[name].input_kind == "probs"
    labels = torch.from_numpy(np.load(out / "y_test.npy")).long()
    ref = []
    for e in split.epochs:
        p = torch.from_numpy(np.load(out / f"preds_epoch{e:03d}.npy"))
        ref.append(float(F.nll_loss(torch.log(p.double()), labels)))
    np.testing.assert_allclose(_per_epoch_losses(run, name), ref, rtol=1e-6)
    assert ref[-1] < ref[0]  # it learned


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_lightning_validation_saved_per_checkpoint(tmp_path: Path) -> None:
    import lightning as L  # noqa: N812
    from torch.utils.data import DataLoader, TensorDataset

    out = tmp_path / "run"

    class Digits(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Sequential(
                torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)
            )
            self.val_logits: list[torch.Tensor] = []
            self.val_labels: list[torch.Tensor] = []

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

        def training_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
            x, y = batch
            return F.cross_entropy(self(x), y)

        def validation_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
            x, y = batch
            self.val_logits.append(self(x).detach())
            self.val_labels.append(y)

        def on_validation_epoch_end(self) -> None:
            logits, labels = torch.cat(self.val_logits), torch.cat(self.val_labels)
            self.val_logits.clear()
            self.val_labels.clear()
            if self.trainer.sanity_checking:
                return
            d = out / f"epoch={self.current_epoch}-step={self.global_step}"
            d.mkdir(parents=True)
            torch.save({"logits": logits, "labels": labels}, d / "predictions.pt")

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.Adam(self.parameters(), lr=0.01)

    x_train, y_train, x_test, y_test = _digits()
    train = TensorDataset(torch.from_numpy(x_train), torch.from_numpy(y_train).long())
    val = TensorDataset(torch.from_numpy(x_test), torch.from_numpy(y_test).long())
    L.seed_everything(0, verbose=False)
    trainer = L.Trainer(
        max_epochs=3, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(
        Digits(),
        DataLoader(train, batch_size=64, shuffle=True),
        DataLoader(val, batch_size=256),
    )
    steps_per_epoch = -(-len(train) // 64)
    steps = [steps_per_epoch * (e + 1) for e in range(3)]
    folders = sorted(out.iterdir(), key=lambda p: int(p.name.rsplit("=", 1)[1]))
    assert [p.name for p in folders] == [f"epoch={e}-step={s}" for e, s in enumerate(steps)]

    run = predaudit.load_run(out)
    (name,) = run.splits
    split = run.splits[name]
    assert (split.epochs, split.epoch_unit, split.n_samples) == (steps, "step", 597)
    assert predaudit.inspect(run).splits[name].input_kind == "logits"
    ref = []
    for d in folders:
        saved = torch.load(d / "predictions.pt")
        ref.append(float(F.cross_entropy(saved["logits"].double(), saved["labels"])))
    report = predaudit.analyze(run, start="first", temperature=False)
    ours = [r.loss for r in report.splits[name].per_epoch]
    np.testing.assert_allclose(ours, ref, rtol=1e-6)
    assert ref[-1] < ref[0]  # it learned
    js = json.loads(analyze_json(report))["splits"][name]
    assert js["epoch_unit"] == "step" and js["epochs"] == steps


if __name__ == "__main__":  # the Keras training, when keras was imported with another backend
    print(train_keras(sys.argv[1]))
