"""The column store: spilled (memory-mapped) and in-memory columns hold the same values,
per-epoch sums match the columns, compact dtypes stay within float32 rounding, and the
cache maps its entries instead of reading them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from predaudit.io.arrays import arrays_layout
from predaudit.store import cache
from predaudit.store.build import compute_split
from predaudit.store.columns import ColumnWriter, _mapping, release
from predaudit.store.stats import COLUMNS, TOTALS

E, N, C = 6, 3000, 7


def _run(dtype: type = np.float32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, C, N)
    y[::97] = -100
    x = rng.standard_normal((E, N, C)) * 3
    return x.astype(dtype), y


def _rss_file_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssFile:"):
                return int(line.split()[1])
    raise AssertionError("no RssFile")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_spilled_columns_equal_in_memory(dtype: type) -> None:
    x, y = _run(dtype)
    lay = arrays_layout(list(x), y)
    mem = compute_split(lay, spill=False)
    mapped = compute_split(lay, spill=True)
    assert _mapping(mem.loss) is None
    assert _mapping(mapped.loss) is not None and not mapped.loss.flags.writeable
    for name in COLUMNS[:8]:
        a, b = getattr(mem, name), getattr(mapped, name)
        assert a.dtype == b.dtype and a.shape == b.shape == (E, N)
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(mem.epoch_totals, mapped.epoch_totals)


def test_losses_and_totals_match_torch() -> None:
    x, y = _run(np.float32)
    st = compute_split(arrays_layout(list(x), y), spill=True)
    valid = y != -100
    assert st.epoch_totals is not None and st.epoch_totals.shape == (E, len(TOTALS))
    for i in range(E):
        ref = torch.nn.functional.cross_entropy(
            torch.from_numpy(x[i]).double(), torch.from_numpy(y), reduction="none"
        ).numpy()
        # the kernel works in float32 for float32 scores
        np.testing.assert_allclose(st.loss[i][valid], ref[valid], rtol=3e-7, atol=1e-9)
        correct = x[i].argmax(axis=1) == y
        n, n_c, total, s_c, s_w = st.epoch_totals[i]
        assert (n, n_c) == (valid.sum(), (correct & valid).sum())
        assert total == pytest.approx(ref[valid].sum(), rel=1e-7)
        assert s_c == pytest.approx(ref[valid & correct].sum(), rel=1e-7)
        assert s_w == pytest.approx(ref[valid & ~correct].sum(), rel=1e-7)


def test_compact_dtypes_within_float32_rounding() -> None:
    x, y = _run(np.float32)
    st32 = compute_split(arrays_layout(list(x), y))
    st64 = compute_split(arrays_layout(list(x.astype(np.float64)), y))
    assert st32.p_true.dtype == np.float32 and st64.p_true.dtype == np.float64
    assert st32.loss.dtype == np.float64 and st32.pred.dtype == np.int32
    valid = y != -100
    p_ref = torch.softmax(torch.from_numpy(x).double(), dim=-1).numpy()
    for i in range(E):
        want = p_ref[i][valid, y[valid]]
        # the float32 kernel, then rounding to float32
        np.testing.assert_allclose(st32.p_true[i][valid], want, rtol=3e-7)
        np.testing.assert_allclose(st64.p_true[i][valid], want, rtol=1e-12)


def test_release_gives_pages_back() -> None:
    w = ColumnWriter(64, 1 << 17, {"loss": np.dtype(np.float64)}, spill=True)
    for i in range(64):
        w.write(i, "loss", np.full(1 << 17, float(i)))
    col = w.finish()["loss"]  # 64 MiB, mapped
    before = _rss_file_kb()
    assert sum(float(col[i][0]) for i in range(64)) == sum(range(64))
    total = sum(float(col[i].sum()) for i in range(64))
    touched = _rss_file_kb()
    release(col)
    after = _rss_file_kb()
    assert total == sum(i * (1 << 17) for i in range(64))
    assert touched - before > 48 * 1024  # the pass mapped most of the 64 MiB in
    assert touched - after > 48 * 1024  # and release gave them back
    assert float(col[63][5]) == 63.0  # still readable


def test_cache_maps_entries(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    x, y = _run(np.float32)
    run = tmp_path / "run"
    run.mkdir()
    np.save(run / "logits.npy", x)
    np.save(run / "labels.npy", y)
    from predaudit.io.discover import discover

    lay = discover(run).splits["default"]
    fresh = compute_split(lay, spill=True)
    assert cache.store(lay, None, fresh)
    back = cache.load_cached(lay, None)
    assert back is not None
    assert _mapping(back.loss) is not None  # mapped from the entry, not read
    for name in COLUMNS[:8]:
        np.testing.assert_array_equal(getattr(back, name), getattr(fresh, name))
    np.testing.assert_array_equal(back.epoch_totals, fresh.epoch_totals)


@pytest.mark.parametrize("spill", [False, True])
def test_labels_are_stored_once_unless_they_change(spill: bool) -> None:
    x, y = _run(np.float32)
    same = compute_split(arrays_layout(list(x), y), spill=spill)
    assert same.labels.strides[0] == 0 and same.valid.strides[0] == 0  # one row, broadcast
    np.testing.assert_array_equal(same.labels, np.tile(y, (E, 1)))
    np.testing.assert_array_equal(same.valid, np.tile(y != -100, (E, 1)))
    labels = [y.copy() for _ in range(E)]
    labels[3][10:20] = -100  # ignored at epoch 4 only: every row is written
    changed = compute_split(arrays_layout(list(x), labels), spill=spill)
    assert changed.labels.strides[0] != 0
    np.testing.assert_array_equal(changed.labels, np.stack(labels))
    np.testing.assert_array_equal(changed.valid, np.stack(labels) != -100)
