"""Runs of every layout the readers know, written into a folder for the engine and zarr tests.

Not a test module. Each maker writes one run under ``root`` and returns its path; the
data come from the committed sample run (``sample_data``) and the test assets, reshaped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data"
ASSETS = ROOT / "tests" / "assets" / "ok"


def sample() -> tuple[np.ndarray, np.ndarray]:
    """The sample run's test split: logits [30, 450, 10] float32, labels [450]."""
    return (
        np.load(SAMPLE / "stacked" / "test_logits.npy"),
        np.load(SAMPLE / "stacked" / "test_labels.npy"),
    )


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def stacked(root: Path) -> Path:
    return SAMPLE / "stacked"  # two splits, .npy [E, N, C] (memory-mapped: row-range tasks)


def per_epoch(root: Path) -> Path:
    return SAMPLE / "per_epoch"  # compressed .npz with ids (one task per epoch)


def with_ids(root: Path) -> Path:
    """Per-epoch .npy scores with ids in a different order at every epoch."""
    x, y = sample()
    d = root / "with_ids"
    d.mkdir()
    rng = np.random.default_rng(3)
    ids = rng.permutation(10_000)[: y.size]
    for e in range(6):
        p = rng.permutation(y.size)
        np.save(d / f"logits_epoch_{e + 1}.npy", x[e][p])
        np.save(d / f"labels_epoch_{e + 1}.npy", y[p])
        np.save(d / f"ids_epoch_{e + 1}.npy", ids[p])
    return d


def probabilities(root: Path) -> Path:
    x, y = sample()
    d = root / "probs"
    d.mkdir()
    np.save(d / "probs.npy", _softmax(x[:8].astype(np.float64)))
    np.save(d / "labels.npy", y)
    return d


def log_probabilities(root: Path) -> Path:
    x, y = sample()
    d = root / "log_probs"
    d.mkdir()
    z = x[:8].astype(np.float64)
    m = z.max(axis=-1, keepdims=True)
    np.save(d / "logits.npy", z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True)))
    np.save(d / "labels.npy", y)
    return d


def binary(root: Path) -> Path:
    """A single logit per sample [E, N] float32 (the score kind decided over every epoch)."""
    x, y = sample()
    d = root / "binary"
    d.mkdir()
    np.save(d / "logits.npy", (x[:8, :, 1] - x[:8, :, 0]).astype(np.float32))
    np.save(d / "labels.npy", (y == 1).astype(np.int64))
    return d


def binary_probs(root: Path) -> Path:
    x, y = sample()
    d = root / "binary_probs"
    d.mkdir()
    s = x[:8, :, 1].astype(np.float64) - x[:8, :, 0]
    np.save(d / "probs.npy", 1.0 / (1.0 + np.exp(-s)))
    np.save(d / "labels.npy", (y == 1).astype(np.int64))
    return d


S, T = 30, 15


def tokens(root: Path) -> Path:
    """Token classification: per-checkpoint predictions [S, T, C] and label_ids [S, T]."""
    x, y = sample()
    d = root / "tokens"
    lab = y.reshape(S, T).copy()
    lab[:, -3:] = -100  # padding
    lab[:, 0] = -100  # [CLS]
    for e in range(5):
        c = d / f"checkpoint-{(e + 1) * 100}"
        c.mkdir(parents=True)
        np.save(c / "predictions.npy", x[e].reshape(S, T, -1))
        np.save(c / "label_ids.npy", lab)
    return d


def masked(root: Path) -> Path:
    return ASSETS / "neg_inf_masked"


def unaligned(root: Path) -> Path:
    return ASSETS / "unaligned_no_ids"


def zarr_stacked(root: Path) -> Path:
    """A zarr group [E, N, C] chunked along N, with labels and ids."""
    import zarr

    x, y = sample()
    p = root / "run.zarr"
    g = zarr.open_group(str(p), mode="w")
    g.create_array("logits", data=x[:10], chunks=(1, 64, 10))
    g.create_array("labels", data=y)
    g.create_array("ids", data=np.arange(y.size)[::-1].copy())
    return p


LAYOUTS: dict[str, Callable[[Path], Path]] = {
    "stacked": stacked,
    "per_epoch": per_epoch,
    "with_ids": with_ids,
    "probabilities": probabilities,
    "log_probabilities": log_probabilities,
    "binary": binary,
    "binary_probs": binary_probs,
    "tokens": tokens,
    "neg_inf_masked": masked,
    "unaligned_no_ids": unaligned,
    "zarr": zarr_stacked,
}


def assert_same_json(a: Any, b: Any, where: str = "$") -> None:
    """Equal field by field; floats to a relative 1e-12 (NaN equals NaN)."""
    if isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, int | float) and isinstance(b, int | float), (where, a, b)
        if math.isnan(a) or math.isnan(b):
            assert math.isnan(a) and math.isnan(b), (where, a, b)
        else:
            assert math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0), (where, a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), (where, a.keys(), b)
        for k in a:
            assert_same_json(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), (where, len(a), b)
        for i, (u, v) in enumerate(zip(a, b, strict=True)):
            assert_same_json(u, v, f"{where}[{i}]")
    else:
        assert a == b, (where, a, b)


def loads(text: str) -> Any:
    return json.loads(text)
