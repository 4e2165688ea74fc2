"""Train a tiny Keras 3 model (torch backend) on digits with PredauditCallback; print val losses.

Imported by tests/record/test_keras.py (or run as a script when keras is already imported
with another backend): the backend is chosen before keras is imported.
usage: python keras_run.py OUT_DIR (one run per kind: OUT_DIR/logits, OUT_DIR/probs)
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from predaudit.record import Recorder  # noqa: E402
from predaudit.record.keras import PredauditCallback  # noqa: E402


def train(out: str, kind: str, data: tuple) -> list[float]:
    x_tr, y_tr, x_val, y_val = data
    keras.utils.set_random_seed(0)
    last = [keras.layers.Dense(10)] + ([keras.layers.Softmax()] if kind == "probs" else [])
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"), *last])
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=kind == "logits"),
    )
    cb = PredauditCallback(Recorder(out, split="val", kind=kind), x_val, y_val, batch_size=64)
    hist = model.fit(
        x_tr,
        y_tr,
        epochs=3,
        batch_size=64,
        validation_data=(x_val, y_val),
        verbose=0,
        callbacks=[cb],
    )
    return [float(v) for v in hist.history["val_loss"]]


def run_all(out: str) -> dict:
    """Train with a linear last layer (logits) and with a final softmax (probs)."""
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    data = (x[:1200], y[:1200], x[1200:], y[1200:])
    losses = {kind: train(os.path.join(out, kind), kind, data) for kind in ("logits", "probs")}
    return {"backend": keras.backend.backend(), "val_loss": losses}


def main() -> None:
    print(json.dumps(run_all(sys.argv[1])))


if __name__ == "__main__":
    main()
