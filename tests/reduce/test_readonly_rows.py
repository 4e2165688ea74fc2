"""The logits row kernel (many classes) on read-only chunks: a memory-mapped epoch.

numpy's ``argmax`` copies a read-only array before it starts, so the row kernel copies
such a chunk into its own buffer first and reads that; a writeable array is read where it
is. Both must give the same statistics bit for bit, in float32 (rows unshifted and rows
shifted by their maximum, the float64 recheck of confident rows) and in float64, and the
loss must be PyTorch's.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from predaudit.reduce import reduce_detect

FIELDS = ("loss", "pred", "correct", "p_true", "confidence", "margin")


def _logits(n: int, c: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c)) * rng.choice([0.5, 3.0, 8.0], size=(n, 1))
    y = rng.integers(0, c, n)
    x[np.arange(n), y] += rng.choice([0.0, 6.0, 30.0], size=n)
    x += rng.choice([0.0, 0.0, -60.0, 120.0], size=(n, 1))  # maxima outside [-20, 88] too
    x[::17, 5] = x[::17, 4]  # ties
    return x, y


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_read_only_and_memory_mapped_chunks_give_the_same_bits(dtype, tmp_path):
    x, y = _logits(700, 130, seed=3)
    x = x.astype(dtype)
    path = tmp_path / "logits.npy"
    np.save(path, x)
    mapped = np.load(path, mmap_mode="r")
    frozen = x.copy()
    frozen.flags.writeable = False
    kind, ref, ev = reduce_detect(x, y, chunk_rows=64)
    assert kind == "logits"
    for other in (mapped, frozen):
        k, st, e = reduce_detect(other, y, chunk_rows=64)
        assert (k, e) == (kind, ev)
        for f in FIELDS:
            a, b = getattr(ref, f), getattr(st, f)
            np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8), err_msg=f)
    torch_loss = torch.nn.functional.cross_entropy(
        torch.from_numpy(x.astype(np.float64)), torch.from_numpy(y), reduction="none"
    ).numpy()
    np.testing.assert_allclose(ref.loss, torch_loss, rtol=1e-6, atol=1e-12)
