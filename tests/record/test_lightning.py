"""Lightning: a tiny MLP on digits, validation outputs recorded each epoch by the callback."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from lightning import pytorch as pl

import predaudit
from predaudit.record import Recorder

pytestmark = [
    pytest.mark.frameworks,
    pytest.mark.filterwarnings("ignore::UserWarning"),  # Lightning's advice (workers, logging)
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]


def digits_loaders(batch_size=64):
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x / 16.0, dtype=torch.float32)
    y = torch.tensor(y)
    ids = torch.arange(len(y))
    train = torch.utils.data.TensorDataset(x[:1200], y[:1200], ids[:1200])
    val = torch.utils.data.TensorDataset(x[1200:], y[1200:], ids[1200:])  # 597: a short batch
    return (
        torch.utils.data.DataLoader(train, batch_size=batch_size, shuffle=True),
        torch.utils.data.DataLoader(val, batch_size=batch_size, shuffle=True),
    )


class MLP(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)
        )

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y, _ = batch
        return F.cross_entropy(self(x), y)

    def validation_step(self, batch, batch_idx):
        x, y, ids = batch
        logits = self(x)
        self.log("val_loss", F.cross_entropy(logits, y), batch_size=len(y))
        return {"logits": logits, "labels": y, "ids": ids}

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.01)


class ValLosses(pl.Callback):
    def __init__(self):
        self.losses = []

    def on_validation_end(self, trainer, pl_module):
        if not trainer.sanity_checking:
            self.losses.append(float(trainer.callback_metrics["val_loss"]))


def test_lightning_records_each_validation(tmp_path):
    from predaudit.record.lightning import PredauditCallback

    torch.manual_seed(0)
    train, val = digits_loaders()
    seen = ValLosses()
    trainer = pl.Trainer(
        max_epochs=3,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[PredauditCallback(Recorder(tmp_path / "run", split="val")), seen],
    )
    trainer.fit(MLP(), train, val)
    run = predaudit.load_run(tmp_path / "run")
    split = run.splits["val"]
    assert split.epochs == [1, 2, 3]  # the sanity check is not recorded
    assert split.n_samples == 597
    report = predaudit.analyze(run, start="first").splits["val"]
    ours = [r.loss for r in report.per_epoch]
    assert len(seen.losses) == 3
    np.testing.assert_allclose(ours, seen.losses, rtol=1e-5)
    # and PyTorch's cross_entropy on the recorded scores
    for e in split.epochs:
        with np.load(tmp_path / "run" / "val" / f"epoch_{e:04d}.npz") as z:
            ce = F.cross_entropy(torch.tensor(z["logits"]).double(), torch.tensor(z["labels"]))
        np.testing.assert_allclose(ours[e - 1], float(ce), rtol=1e-6)


def test_a_step_without_the_dict_is_explained(tmp_path):
    from predaudit.record.lightning import PredauditCallback

    class Bare(MLP):
        def validation_step(self, batch, batch_idx):
            x, y, _ = batch
            return F.cross_entropy(self(x), y)

    train, val = digits_loaders()
    trainer = pl.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_train_batches=2,
        callbacks=[PredauditCallback(Recorder(tmp_path))],
    )
    with pytest.raises(TypeError, match="validation_step must return a dict with 'logits'"):
        trainer.fit(Bare(), train, val)
    assert not (tmp_path / "val").exists()
