"""Generate ``sample_data/``: a real, small training run that overfits.

A one-hidden-layer ReLU MLP (numpy only, hand-written Adam, no regularisation) is trained
on scikit-learn's ``load_digits``. After every epoch the float32 logits on the train and
test sets are recorded. Test loss reaches its minimum early and then rises while test
accuracy stays flat: the model becomes over-confident on the few test digits it gets
wrong.

The run is written in two layouts holding identical numbers:

* ``sample_data/stacked/{train,test}_{logits,labels}.npy``: logits ``[E, N, 10]``
  float32, labels ``[N]`` int64; epochs are implicitly ``1..E``.
* ``sample_data/per_epoch/{train,test}/epoch_XXX.npz``: keys ``logits`` ``[N, 10]``
  float32, ``labels`` ``[N]`` int64 and ``ids`` ``[N]`` int64 (row position in the stacked
  arrays); the rows of every file are shuffled with their own fixed-seed permutation.

Everything is deterministic: rerunning the script produces byte-identical files (the
``.npz`` archives are written with a fixed zip timestamp).

Usage::

    python scripts/make_sample_data.py
"""

from __future__ import annotations

import argparse
import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

# --- hyper-parameters ------------------------------------------------------------------
SPLIT_SEED = 0  # train/test split (stratified, 75/25)
TEST_SIZE = 0.25
INIT_SEED = 0  # weight init and minibatch order
PERM_SEED = 12345  # row shuffling of the per-epoch files
HIDDEN = 128
EPOCHS = 30
BATCH_SIZE = 64
LR = 0.005
BETA1 = 0.9
BETA2 = 0.95
ADAM_EPS = 1e-8
N_CLASSES = 10

ZIP_DATE = (1980, 1, 1, 0, 0, 0)
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


def train(data: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
    """Train the MLP; return per-split float32 logits stacked as [EPOCHS, N, 10]."""
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
    logits: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
    for _ in range(EPOCHS):
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
        for s in SPLITS:
            logits[s].append(forward(params, data[s][0])[1].astype(np.float32))
    return {s: np.stack(logits[s]) for s in SPLITS}


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def save_npz_deterministic(path: Path, **arrays: np.ndarray) -> None:
    """Like ``np.savez_compressed`` but with a fixed zip timestamp (byte-reproducible)."""
    with zipfile.ZipFile(path, "w") as zf:
        for key, arr in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, npy_bytes(arr))


def write_outputs(out: Path, logits: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> None:
    for sub in ("stacked", "per_epoch"):
        shutil.rmtree(out / sub, ignore_errors=True)
    stacked = out / "stacked"
    stacked.mkdir(parents=True)
    for s in SPLITS:
        np.save(stacked / f"{s}_logits.npy", logits[s], allow_pickle=False)
        np.save(stacked / f"{s}_labels.npy", labels[s], allow_pickle=False)

    for split_idx, s in enumerate(SPLITS):
        folder = out / "per_epoch" / s
        folder.mkdir(parents=True)
        n = len(labels[s])
        ids = np.arange(n, dtype=np.int64)
        for e in range(logits[s].shape[0]):
            perm = np.random.default_rng([PERM_SEED, split_idx, e]).permutation(n)
            save_npz_deterministic(
                folder / f"epoch_{e + 1:03d}.npz",
                logits=logits[s][e][perm],
                labels=labels[s][perm],
                ids=ids[perm],
            )


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
        "Made by `python scripts/make_sample_data.py` (numpy MLP, fixed seeds, byte-reproducible).",
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
        f"`stacked/{{train,test}}_{{logits,labels}}.npy`: float32 logits [{e}, N, 10] "
        "(epochs 1..E), int64 labels [N].",
        "`per_epoch/{train,test}/epoch_001.npz`...: same numbers, keys `logits`, `labels`, `ids`; "
        "rows shuffled per file, `ids` = row index in the stacked arrays.",
    ]
    (out / "README.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    args = parser.parse_args()

    data = load_data()
    logits = train(data)
    labels = {s: data[s][1] for s in SPLITS}
    args.out.mkdir(parents=True, exist_ok=True)
    write_outputs(args.out, logits, labels)

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
