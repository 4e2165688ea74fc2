"""The recorder's .npz writer: the bytes Python's zipfile and np.save write, piece by piece."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from predaudit.record import npzwrite

ARRAYS = [
    ("logits", np.random.default_rng(0).normal(size=(50, 3)).astype(np.float16)),
    ("labels", np.arange(50)),
    ("ids", np.array([f"s{i}" for i in range(50)])),
    ("__meta__", np.array('{"a": 1}')),
]


def zipfile_reference(path, arrays, compression=zipfile.ZIP_STORED):
    """What zipfile writes (force_zip64, like np.savez's members), each member np.save's bytes."""
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for key, arr in arrays:
            info = zipfile.ZipInfo(f"{key}.npy", date_time=npzwrite.zip_date_time())
            info.compress_type = compression
            info.external_attr = 0o644 << 16
            buf = io.BytesIO()
            np.save(buf, arr, allow_pickle=False)
            with zf.open(info, "w", force_zip64=True) as fp:
                fp.write(buf.getvalue())


@pytest.mark.parametrize("zip64_limit", [None, 100])
@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("streamed", [False, True])  # views written at once, or streamed
def test_bytes_equal_zipfile_and_np_save(tmp_path, monkeypatch, zip64_limit, compress, streamed):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    order = None
    if streamed:  # rows gathered in an order, 64 bytes at a time: CRCs written in after
        monkeypatch.setattr(npzwrite, "CHUNK_BYTES", 64)
        order = np.arange(50)
    if zip64_limit is not None:  # members and offsets past the limit: the ZIP64 records
        monkeypatch.setattr(zipfile, "ZIP64_LIMIT", zip64_limit)
    pieces = [(k, [a[:20], a[20:21], a[21:]] if a.ndim else a) for k, a in ARRAYS]
    npzwrite.write_npz(
        tmp_path / "a.npz", pieces, order=order, compress=compress, unordered=("__meta__",)
    )
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    zipfile_reference(tmp_path / "b.npz", ARRAYS, method)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.npz") as zf:
        assert zf.testzip() is None  # every CRC checks
    with np.load(tmp_path / "a.npz", allow_pickle=False) as z:
        for key, arr in ARRAYS:
            np.testing.assert_array_equal(z[key], arr)


def test_rows_in_order_and_empty_members(tmp_path, monkeypatch):
    monkeypatch.setattr(npzwrite, "CHUNK_BYTES", 24)  # gathered 4 rows of 3 float16 at a time
    scores = ARRAYS[0][1]
    order = np.random.default_rng(1).permutation(50)[:45]
    npzwrite.write_npz(
        tmp_path / "o.npz",
        [("logits", [scores[:10], scores[10:]]), ("none", np.zeros((0, 2)))],
        order=order,
        unordered=("none",),
    )
    with np.load(tmp_path / "o.npz") as z:
        np.testing.assert_array_equal(z["logits"], scores[order])
        assert z["none"].shape == (0, 2)


def test_source_date_epoch_sets_the_timestamp(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "315532800")
    assert npzwrite.zip_date_time() == (1980, 1, 1, 0, 0, 0)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")  # before 1980: DOS dates start there
    assert npzwrite.zip_date_time() == (1980, 1, 1, 0, 0, 0)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert npzwrite.zip_date_time() == (2023, 11, 14, 22, 13, 20)
