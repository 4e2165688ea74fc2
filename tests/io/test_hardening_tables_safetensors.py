"""Issue 15 for the safetensors and table readers: special files refused by type, declared
sizes checked against the file and the memory budget before anything is decoded, damaged
files a one-line input error naming the file. References: ``safetensors.numpy.load_file``
and ``safetensors.torch.load_file`` for the values, pyarrow's own metadata for the sizes.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv
import pyarrow.feather
import pyarrow.parquet
import pytest
import torch
from safetensors.numpy import load_file, save_file

from predaudit.errors import InputError
from predaudit.io.formats import open_container
from predaudit.io.safetensors_file import SafetensorsContainer

LOGITS = np.arange(12, dtype=np.float32).reshape(4, 3) / 5 - 1
LABELS = np.array([0, 1, 2, 1], dtype=np.int64)


def refused(path: Path) -> str:
    with pytest.raises(InputError) as info:
        c = open_container(path)
        for k in c.keys():
            c.read(k)
    text = str(info.value)
    assert "\n" not in text and text.startswith(f"{path}: "), text
    return text[len(str(path)) + 2 :]


@pytest.mark.parametrize("suffix", [".safetensors", ".parquet", ".feather", ".arrow", ".csv"])
def test_fifo_is_refused_by_type_before_opening(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"epoch_1{suffix}"
    os.mkfifo(path)  # opening it for reading would block: the type is checked first
    assert refused(path) == "is not a regular file (a named pipe); refused"


def test_safetensors_values_equal_safetensors_own_reader(tmp_path: Path) -> None:
    path = tmp_path / "epoch_1.safetensors"
    save_file({"logits": LOGITS, "labels": LABELS}, path, metadata={"format": "np"})
    c = open_container(path)
    ref = load_file(path)
    assert sorted(c.keys()) == sorted(ref)
    for k, v in ref.items():
        got = c.read(k)
        assert got.dtype == v.dtype and np.array_equal(got, v)


def test_bfloat16_bits_equal_torch(tmp_path: Path) -> None:
    from safetensors.torch import save_file as save_torch

    path = tmp_path / "epoch_1.safetensors"
    t = torch.from_numpy(LOGITS).to(torch.bfloat16)
    save_torch({"logits": t, "labels": torch.from_numpy(LABELS)}, str(path))
    got = open_container(path).read("logits")
    np.testing.assert_array_equal(got, t.view(torch.uint16).numpy())


def test_safetensors_that_shrinks_after_opening_is_an_input_error_not_sigbus(
    tmp_path: Path,
) -> None:
    path = tmp_path / "epoch_1.safetensors"
    save_file({"labels": LABELS, "logits": LOGITS}, path)
    c = SafetensorsContainer(path)
    with open(path, "r+b") as fp:
        fp.truncate(path.stat().st_size - 16)
    with pytest.raises(InputError, match="changed while being read: .* tensor 'logits' ends at"):
        c.read("logits")


def _edit_header(path: Path, edit) -> None:  # type: ignore[no-untyped-def]
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    edit(header)
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + n :])


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda h: h["logits"].update(data_offsets=[32, 32 + 48 + 8]),
            "is not a valid safetensors file (tensor 'logits' of shape (4, 3) and dtype F32 "
            "needs 48 bytes but its data_offsets span 56)",
        ),
        (
            lambda h: h["logits"].update(shape=[4, 3], data_offsets=[32, 2**40 + 32]),
            "is not a valid safetensors file (tensor 'logits' of shape (4, 3) and dtype F32 "
            "needs 48 bytes but its data_offsets span 1099511627776)",
        ),
        (
            lambda h: h["logits"].update(dtype="F8_E9"),
            "is not a valid safetensors file (tensor 'logits' has an unknown dtype 'F8_E9')",
        ),
        (
            lambda h: h["logits"].update(shape=[True, 3]),
            "is not a valid safetensors file (tensor 'logits' has shape [True, 3]; expected "
            "sizes >= 0)",
        ),
        (
            lambda h: h["logits"].update(shape=[2**62, 2**62], data_offsets=[0, 2**64]),
            f"tensor 'logits' declares {2**62 * 2**62 * 4} bytes of data, "
            "over the limit of 17179869184 bytes (set PREDAUDIT_MAX_BYTES to raise it)",
        ),
    ],
)
def test_safetensors_header_checked_before_anything_is_mapped(
    tmp_path: Path, edit, message: str
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "epoch_1.safetensors"
    save_file({"labels": LABELS, "logits": LOGITS}, path)
    _edit_header(path, edit)
    assert refused(path) == message


def _table() -> pa.Table:
    n = 200_000  # one constant value: a few hundred bytes compressed, 4.8 MB decoded
    cols = {f"logit_{k}": np.zeros(n, np.float64) for k in range(2)}
    return pa.table({"label": np.zeros(n, np.int64), **cols})


def test_parquet_declaring_more_than_the_budget_is_refused_from_its_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "epoch_1.parquet"
    pyarrow.parquet.write_table(_table(), path, compression="zstd")
    meta = pyarrow.parquet.ParquetFile(path).metadata
    assert path.stat().st_size < 20_000 and (meta.num_rows, meta.num_columns) == (200_000, 3)
    monkeypatch.setenv("PREDAUDIT_MAX_BYTES", str(1 << 20))

    def no_decoding(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the columns were decoded")

    monkeypatch.setattr(pyarrow.parquet.ParquetFile, "read", no_decoding)
    assert refused(path) == (
        "declares 4800000 bytes of data, over the limit of 1048576 bytes "
        "(set PREDAUDIT_MAX_BYTES to raise it)"
    )


def test_compressed_feather_over_the_budget_is_refused_before_its_batches_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "epoch_1.feather"
    pyarrow.feather.write_feather(_table(), path, compression="zstd")
    assert path.stat().st_size < 50_000
    monkeypatch.setenv("PREDAUDIT_MAX_BYTES", str(1 << 20))
    monkeypatch.setattr(pa.ipc.RecordBatchFileReader, "read_all", None)  # never reached
    assert refused(path).startswith("declares 4800000 bytes of data, over the limit of 1048576")


def test_arrow_stream_over_the_budget_stops_at_the_batch_that_crosses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "epoch_1.arrow"
    t = _table()
    with pa.ipc.new_stream(path, t.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as w:
        for batch in t.to_batches(max_chunksize=10_000):
            w.write_batch(batch)
    monkeypatch.setenv("PREDAUDIT_MAX_BYTES", str(1 << 20))
    # 10,000 rows × 3 columns × 8 bytes a batch: the 5th batch crosses 1 MiB
    assert refused(path).startswith("declares 1200000 bytes of data, over the limit of 1048576")


def test_csv_larger_than_the_budget_is_refused_before_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "epoch_1.csv"
    pyarrow.csv.write_csv(_table(), path)
    monkeypatch.setenv("PREDAUDIT_MAX_BYTES", str(1 << 20))
    size = path.stat().st_size
    assert refused(path) == (
        f"declares {size} bytes of data, over the limit of 1048576 bytes "
        "(set PREDAUDIT_MAX_BYTES to raise it)"
    )


@pytest.mark.parametrize("suffix", [".parquet", ".feather", ".arrow"])
def test_truncated_tables_at_many_offsets_are_clean_input_errors(
    tmp_path: Path, suffix: str
) -> None:
    t = pa.table({"label": LABELS, **{f"logit_{k}": LOGITS[:, k] for k in range(3)}})
    full = tmp_path / f"full{suffix}"
    if suffix == ".parquet":
        pyarrow.parquet.write_table(t, full)
    elif suffix == ".feather":
        pyarrow.feather.write_feather(t, full)
    else:
        with pa.ipc.new_stream(full, t.schema) as w:
            w.write_table(t)
    raw = full.read_bytes()
    path = tmp_path / f"epoch_1{suffix}"
    for stop in range(0, len(raw) - 1, 7):
        path.write_bytes(raw[:stop])
        try:
            c = open_container(path)
        except InputError as exc:
            assert "\n" not in str(exc) and str(exc).startswith(f"{path}: ")
            continue
        # An Arrow stream cut between two messages is a shorter valid stream: whatever
        # was read must be what pyarrow reads.
        assert suffix == ".arrow"
        with pa.ipc.open_stream(path) as r:
            ref = r.read_all()
        np.testing.assert_array_equal(c.read("label"), ref.column("label").to_numpy())


def test_table_with_two_columns_of_one_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "epoch_1.csv"
    path.write_text("label,logit_0,logit_1,logit_0\n0,0.1,0.2,0.3\n1,0.4,0.5,0.6\n")
    assert (
        refused(path) == "has two columns named 'logit_0'; refused, which one is meant is unclear"
    )


def test_table_column_numpy_cannot_hold_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "epoch_1.feather"
    union = pa.UnionArray.from_sparse(pa.array([0] * 4, type=pa.int8()), [pa.array(LABELS)])
    t = pa.table({"label": union, **{f"logit_{k}": LOGITS[:, k] for k in range(3)}})
    pyarrow.feather.write_feather(t, path)
    assert refused(path) == (
        "column 'label' holds sparse_union<0: int64=0>, which numpy cannot hold"
    )


def test_parquet_column_names_that_are_not_utf8_are_an_input_error(tmp_path: Path) -> None:
    """Found by the fuzz suite: pyarrow raised UnicodeDecodeError (an internal error)."""
    path = tmp_path / "epoch_1.parquet"
    t = pa.table({"label": LABELS, "logit_0": LOGITS[:, 0], "logit_1": LOGITS[:, 1]})
    pyarrow.parquet.write_table(t, path)
    raw = path.read_bytes()
    path.write_bytes(raw.replace(b"logit_1", b"logit\xe9\x01"))
    assert refused(path).startswith("is not a valid Parquet file (")
