"""Generate ``sample_data/``: a real, small training run that overfits, saved by the recorder.

A one-hidden-layer ReLU MLP (numpy only, hand-written Adam, no regularisation) is trained
on scikit-learn's ``load_digits``. After every epoch the model is evaluated on the train
and test sets in shuffled batches of 64, and every batch's float32 logits, labels and
sample ids (row positions) go to a ``predaudit.Recorder`` — the README's "Save a run"
snippet, ``rec.add(logits, labels, ids)`` per batch and ``rec.end_epoch(epoch)`` after the
last (``predaudit.record.evaluate`` runs PyTorch models; this model is numpy). Test loss
reaches its minimum early and then rises while test accuracy stays flat: the model
becomes over-confident on the few test digits it gets wrong.

The run is written in two layouts holding identical numbers:

* ``sample_data/per_epoch/{train,test}/epoch_0001.npz``...: what the recorder writes
  (``Recorder(out, split=..., compress=True)``): keys ``logits`` ``[N, 10]`` float32,
  ``labels`` ``[N]`` int64, ``ids`` ``[N]`` int64 (rows sorted by id, whatever order the
  batches came in) and ``__meta__`` (JSON: split, epoch, score kind, dtype).
* ``sample_data/stacked/{train,test}_{logits,labels}.npy``: the same logits stacked
  ``[E, N, 10]`` float32 (row ``i`` = id ``i``), labels ``[N]`` int64; epochs are
  implicitly ``1..E``.

Everything is deterministic: rerunning the script with the same numpy build produces
byte-identical files (``SOURCE_DATE_EPOCH`` fixes the zip timestamps; the recorder's
``__meta__`` also names the predaudit version that wrote it).

Usage::

    python scripts/make_sample_data.py
"""

from __future__ import annotations

import argparse
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import predaudit

# --- hyper-parameters ------------------------------------------------------------------
SPLIT_SEED = 0  # train/test split (stratified, 75/25)
TEST_SIZE = 0.25
INIT_SEED = 0  # weight init and minibatch order
PERM_SEED = 12345  # order of the evaluation batches
HIDDEN = 128
EPOCHS = 30
BATCH_SIZE = 64
LR = 0.005
BETA1 = 0.9
BETA2 = 0.95
ADAM_EPS = 1e-8
N_CLASSES = 10

ZIP_EPOCH = "315532800"  # SOURCE_DATE_EPOCH: 1980-01-01 00:00:00 UTC, the first zip date
SPLITS = ("train", "test")
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "sample_data"


def load_data() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Digits, stratified 75/25 split, features standardised with train statistics."""
    x, y = load_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=TEST_SIZE, stratify=y, random_state=SPLIT_SEED
    )
    scaler = StandardScaler().fit(x_tr)  # constant (always blank) pixels get scale 1
    return {
        "train": (scaler.transform(x_tr), y_tr.astype(np.int64)),
        "test": (scaler.transform(x_te), y_te.astype(np.int64)),
    }


def forward(params: list[np.ndarray], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w1, b1, w2, b2 = params
    h = np.maximum(x @ w1 + b1, 0.0)
    return h, h @ w2 + b2


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def train(
    data: dict[str, tuple[np.ndarray, np.ndarray]],
    evaluate: Callable[[int, list[np.ndarray]], None],
) -> None:
    """Train the MLP; after each epoch ``e`` (1..EPOCHS) call ``evaluate(e, params)``."""
    x_tr, y_tr = data["train"]
    n_in = x_tr.shape[1]
    rng = np.random.default_rng(INIT_SEED)
    params = [
        rng.normal(0.0, np.sqrt(2.0 / n_in), (n_in, HIDDEN)),
        np.zeros(HIDDEN),
        rng.normal(0.0, np.sqrt(2.0 / HIDDEN), (HIDDEN, N_CLASSES)),
        np.zeros(N_CLASSES),
    ]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    step = 0
    for epoch in range(1, EPOCHS + 1):
        order = rng.permutation(len(x_tr))
        for start in range(0, len(order), BATCH_SIZE):
            idx = order[start : start + BATCH_SIZE]
            xb, yb = x_tr[idx], y_tr[idx]
            h, z = forward(params, xb)
            # gradient of mean softmax cross-entropy w.r.t. the logits
            g = np.exp(log_softmax(z))
            g[np.arange(len(yb)), yb] -= 1.0
            g /= len(yb)
            gh = g @ params[2].T
            gh[h <= 0] = 0.0
            grads = [xb.T @ gh, gh.sum(axis=0), h.T @ g, g.sum(axis=0)]
            step += 1
            for k, (p, gk) in enumerate(zip(params, grads, strict=True)):
                m[k] = BETA1 * m[k] + (1 - BETA1) * gk
                v[k] = BETA2 * v[k] + (1 - BETA2) * gk**2
                m_hat = m[k] / (1 - BETA1**step)
                v_hat = v[k] / (1 - BETA2**step)
                p -= LR * m_hat / (np.sqrt(v_hat) + ADAM_EPS)
        evaluate(epoch, params)


def record(out: Path, data: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
    """Train, saving each epoch's evaluation through ``predaudit.Recorder`` into
    ``out/per_epoch``; return each split's logits stacked [EPOCHS, N, 10] (row = id)."""
    recorders = {s: predaudit.Recorder(out / "per_epoch", split=s, compress=True) for s in SPLITS}
    stacked = {s: np.zeros((EPOCHS, len(data[s][1]), N_CLASSES), np.float32) for s in SPLITS}

    def evaluate(epoch: int, params: list[np.ndarray]) -> None:
        for split_idx, s in enumerate(SPLITS):
            x, y = data[s]
            rec = recorders[s]
            order = np.random.default_rng([PERM_SEED, split_idx, epoch]).permutation(len(y))
            for start in range(0, len(order), BATCH_SIZE):
                ids = order[start : start + BATCH_SIZE]
                logits = forward(params, x[ids])[1].astype(np.float32)
                rec.add(logits, y[ids], ids)  # per batch
                stacked[s][epoch - 1, ids] = logits
            rec.end_epoch(epoch)  # after the last batch

    train(data, evaluate)
    for rec in recorders.values():
        rec.close()
    return stacked


def write_stacked(out: Path, logits: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> None:
    stacked = out / "stacked"
    stacked.mkdir(parents=True)
    for s in SPLITS:
        np.save(stacked / f"{s}_logits.npy", logits[s], allow_pickle=False)
        np.save(stacked / f"{s}_labels.npy", labels[s], allow_pickle=False)


def metrics(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-epoch mean cross-entropy and accuracy from the saved float32 logits."""
    losses, accs = [], []
    for z in logits.astype(np.float64):
        losses.append(-log_softmax(z)[np.arange(len(labels)), labels].mean())
        accs.append((z.argmax(axis=1) == labels).mean())
    return np.array(losses), np.array(accs)


def write_readme(out: Path, n: dict[str, int], summary: dict[str, float]) -> None:
    e, b = EPOCHS, summary["best"]
    lines = [
        "# sample_data: a real overfitting run (test loss rises, test accuracy stays flat)",
        "",
        "Made by `python scripts/make_sample_data.py` (numpy MLP, fixed seeds, byte-reproducible "
        "with the same numpy build), saved through `predaudit.Recorder`.",
        f"Model: {summary['n_in']}-{HIDDEN}-{N_CLASSES} ReLU MLP, hand-written Adam (lr={LR}, "
        f"betas=({BETA1}, {BETA2})), batch {BATCH_SIZE}, {e} epochs, no regularisation.",
        f"Data: sklearn `load_digits`, standardised, stratified 75/25 split: "
        f"N_train={n['train']}, N_test={n['test']}, {N_CLASSES} classes.",
        f"Test loss (mean cross-entropy) is lowest at epoch {b}: {summary['best_loss']:.4f} "
        f"(test acc {summary['best_acc']:.4f}); epoch {e}: {summary['last_loss']:.4f} "
        f"(+{summary['rise']:.0%}), test acc {summary['last_acc']:.4f}, "
        f"train acc {summary['last_train_acc']:.4f}.",
        f"(sklearn's `log_loss` clips tiny probabilities, so it gives {summary['last_sk']:.4f} "
        f"at epoch {e}.)",
        "`per_epoch/{train,test}/epoch_0001.npz`...: what the recorder wrote "
        '(`Recorder("sample_data/per_epoch", split=..., compress=True)`, shuffled batches of '
        f"{BATCH_SIZE} with their ids): keys `logits` float32 [N, 10], `labels` int64 [N], "
        "`ids` int64 [N] (rows sorted by id) and `__meta__` (JSON).",
        f"`stacked/{{train,test}}_{{logits,labels}}.npy`: the same float32 logits [{e}, N, 10] "
        "(epochs 1..E, row i = id i), int64 labels [N].",
    ]
    (out / "README.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    args = parser.parse_args()

    os.environ.setdefault("SOURCE_DATE_EPOCH", ZIP_EPOCH)  # reproducible zip timestamps
    data = load_data()
    labels = {s: data[s][1] for s in SPLITS}
    args.out.mkdir(parents=True, exist_ok=True)
    for sub in ("stacked", "per_epoch"):
        shutil.rmtree(args.out / sub, ignore_errors=True)
    logits = record(args.out, data)
    write_stacked(args.out, logits, labels)

    te_loss, te_acc = metrics(logits["test"], labels["test"])
    tr_loss, tr_acc = metrics(logits["train"], labels["train"])
    print(f"{'epoch':>5} {'test_loss':>10} {'test_acc':>9} {'train_loss':>11} {'train_acc':>10}")
    for e in range(EPOCHS):
        print(
            f"{e + 1:5d} {te_loss[e]:10.4f} {te_acc[e]:9.4f} {tr_loss[e]:11.6f} {tr_acc[e]:10.4f}"
        )
    best = int(te_loss.argmin())
    summary = {
        "n_in": data["train"][0].shape[1],
        "best": best + 1,
        "best_loss": te_loss[best],
        "best_acc": te_acc[best],
        "last_loss": te_loss[-1],
        "last_acc": te_acc[-1],
        "last_train_acc": tr_acc[-1],
        "rise": te_loss[-1] / te_loss[best] - 1,
        "last_sk": log_loss(
            labels["test"],
            np.exp(log_softmax(logits["test"][-1].astype(np.float64))),
            labels=range(N_CLASSES),
        ),
    }
    write_readme(args.out, {s: len(labels[s]) for s in SPLITS}, summary)
    print(
        f"best test loss: epoch {best + 1} ({te_loss[best]:.4f}, acc {te_acc[best]:.4f}); "
        f"last: {te_loss[-1]:.4f} (+{summary['rise']:.0%}), acc {te_acc[-1]:.4f}"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
