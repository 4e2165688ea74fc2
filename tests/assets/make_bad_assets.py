"""Write the small broken (and borderline) runs under ``tests/assets/``.

Run from anywhere: ``python tests/assets/make_bad_assets.py``. The output is
deterministic (fixed seeds); the files are committed so the tests need nothing
but this folder. Each run holds a few rows only.

``bad/<case>/`` — each must make ``predaudit inspect`` exit with code 3 and one
error line (the expected lines live in ``tests/test_io_bad_input.py``).
``ok/<case>/`` — borderline data that must be accepted.

Two assets are armed pickles: unpickling them calls ``os.mkdir(MARKER)`` in the
current directory. The tests assert the marker never appears.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
BAD = HERE / "bad"
OK = HERE / "ok"
MARKER = "PREDAUDIT_UNPICKLED_MARKER"

E, N, C = 2, 4, 3
LABELS = np.array([0, 1, 2, 1], dtype=np.int64)


class Armed:
    """Unpickling this object creates the folder ``MARKER`` in the current directory."""

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.mkdir, (MARKER,))


def _logits(seed: int, n: int = N, c: int = C, e: int | None = None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (n, c) if e is None else (e, n, c)
    return rng.normal(size=shape).astype(np.float32)


def _fresh(folder: Path) -> Path:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def _npz(path: Path, **arrays: np.ndarray) -> None:
    np.savez(path, **arrays)


def make_bad() -> None:
    # A folder with files, none of which is a prediction file.
    d = _fresh(BAD / "no_predictions")
    (d / "notes.txt").write_text("training notes\n")
    np.save(d / "weights.npy", np.zeros(3, dtype=np.float32))

    # .npy whose data stops before the header's promise.
    d = _fresh(BAD / "truncated_npy")
    buf = io.BytesIO()
    np.save(buf, _logits(1, e=E))
    (d / "logits.npy").write_bytes(buf.getvalue()[:-20])
    np.save(d / "labels.npy", LABELS)

    # .npy that is not a .npy at all.
    d = _fresh(BAD / "garbage_npy")
    (d / "logits.npy").write_bytes(b"this is not an array\n")
    np.save(d / "labels.npy", LABELS)

    # .npz cut in half: not a zip archive any more.
    d = _fresh(BAD / "corrupt_npz")
    _npz(d / "epoch_1.npz", logits=_logits(2), labels=LABELS)
    buf = io.BytesIO()
    np.savez(buf, logits=_logits(3), labels=LABELS)
    (d / "epoch_2.npz").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])

    # .npz whose compressed member data is damaged (the zip directory is intact).
    d = _fresh(BAD / "corrupt_npz_member")
    buf = io.BytesIO()
    big = np.random.default_rng(4).normal(size=(64, C)).astype(np.float32)
    np.savez_compressed(buf, logits=big, labels=np.zeros(64, dtype=np.int64))
    raw = bytearray(buf.getvalue())
    start = raw.index(b"logits.npy") + 200
    for i in range(start, start + 40):
        raw[i] ^= 0x5A
    (d / "epoch_1.npz").write_bytes(bytes(raw))

    # .pt cut short.
    import torch

    d = _fresh(BAD / "corrupt_pt")
    buf = io.BytesIO()
    torch.save({"logits": torch.from_numpy(_logits(5)), "labels": torch.from_numpy(LABELS)}, buf)
    (d / "epoch_1.pt").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])

    # Object-dtype .npy: an armed pickle.
    d = _fresh(BAD / "object_npy")
    obj = np.empty((E, N, C), dtype=object)
    obj[...] = 0.0
    obj[0, 0, 0] = Armed()
    np.save(d / "logits.npy", obj, allow_pickle=True)
    np.save(d / "labels.npy", LABELS)

    # .pt holding a non-tensor object: an armed pickle next to real tensors.
    d = _fresh(BAD / "pt_object")
    torch.save(
        {
            "logits": torch.from_numpy(_logits(6)),
            "labels": torch.from_numpy(LABELS),
            "meta": Armed(),
        },
        d / "epoch_1.pt",
    )

    # NaN scores at epoch 2 (2 of them); +inf at epoch 2 (1).
    d = _fresh(BAD / "nan_scores")
    _npz(d / "epoch_1.npz", logits=_logits(7), labels=LABELS)
    x = _logits(8)
    x[1, 2] = x[3, 0] = np.nan
    _npz(d / "epoch_2.npz", logits=x, labels=LABELS)

    d = _fresh(BAD / "posinf_scores")
    _npz(d / "epoch_1.npz", logits=_logits(9), labels=LABELS)
    x = _logits(10)
    x[2, 1] = np.inf
    _npz(d / "epoch_2.npz", logits=x, labels=LABELS)

    # Labels outside [0, C) (3 with C = 3); -100 is fine.
    d = _fresh(BAD / "label_out_of_range")
    np.save(d / "logits.npy", _logits(11, e=E))
    np.save(d / "labels.npy", np.array([0, -100, 3, 1], dtype=np.int64))

    # Labels other than -100 that are negative.
    d = _fresh(BAD / "label_negative")
    np.save(d / "logits.npy", _logits(11, e=E))
    np.save(d / "labels.npy", np.array([0, -1, 2, 1], dtype=np.int64))

    # 5 labels for 4 score rows.
    d = _fresh(BAD / "label_count_mismatch")
    np.save(d / "logits.npy", _logits(12, e=E))
    np.save(d / "labels.npy", np.array([0, 1, 2, 1, 0], dtype=np.int64))

    # Same, inside one per-epoch file.
    d = _fresh(BAD / "label_count_mismatch_npz")
    _npz(d / "epoch_1.npz", logits=_logits(12), labels=np.array([0, 1, 2], dtype=np.int64))

    # 3 classes at epoch 1, 4 at epoch 2.
    d = _fresh(BAD / "class_count_changes")
    _npz(d / "epoch_1.npz", logits=_logits(13), labels=LABELS)
    _npz(d / "epoch_2.npz", logits=_logits(14, c=4), labels=LABELS)

    # 4 samples at epoch 1, 5 at epoch 2.
    d = _fresh(BAD / "sample_count_changes")
    _npz(d / "epoch_1.npz", logits=_logits(15), labels=LABELS)
    _npz(d / "epoch_2.npz", logits=_logits(16, n=5), labels=np.append(LABELS, 0))

    # epoch_3.npz and epoch_03.npz both claim epoch 3.
    d = _fresh(BAD / "duplicate_epoch")
    _npz(d / "epoch_03.npz", logits=_logits(17), labels=LABELS)
    _npz(d / "epoch_3.npz", logits=_logits(18), labels=LABELS)

    ids = np.array([10, 11, 12, 13], dtype=np.int64)

    # Duplicated ids (11 twice).
    d = _fresh(BAD / "duplicated_ids")
    _npz(d / "epoch_1.npz", logits=_logits(19), labels=LABELS, ids=np.array([10, 11, 11, 13]))

    # A NaN id names no sample (NaN is not equal to itself): in scores files and in records.
    d = _fresh(BAD / "nan_ids")
    _npz(d / "epoch_1.npz", logits=_logits(19), labels=LABELS, ids=np.array([10, 11, np.nan, 13]))
    d = _fresh(BAD / "records_nan_ids")
    _npz(
        d / "records.npz",
        epoch=np.repeat([1, 2], 4),
        id=np.array([0.0, 1.0, 2.0, np.inf] * 2),
        loss=np.full(8, 0.5),
        correct=np.ones(8, dtype=bool),
    )

    # Pre-reduced records whose values cannot be losses or probabilities (rows that count).
    for case, extra in {
        "records_negative_loss": dict(loss=np.array([0.5, -0.25, 0.5, 0.5] * 2)),
        "records_inf_loss": dict(loss=np.array([0.5, 0.5, 0.5, 0.5, 0.5, np.inf, 0.5, 0.5])),
        "records_nan_loss_labelled": dict(
            loss=np.array([0.5, np.nan, 0.5, 0.5] * 2),
            label=np.array([0, 1, 2, 1] * 2),
            pred=np.array([0, 1, 2, 2] * 2),
        ),
        "records_p_true_above_one": dict(loss=np.full(8, 0.5), p_true=np.full(8, 1.25)),
        "records_text_loss": dict(loss=np.array(["0.5", "0.5", "0.5", "n/a"] * 2)),
        "records_fractional_label": dict(
            loss=np.full(8, 0.5), label=np.array([0, 1, 1.5, 1] * 2), pred=np.zeros(8, int)
        ),
    }.items():
        d = _fresh(BAD / case)
        cols = {"epoch": np.repeat([1, 2], 4), "id": np.tile(np.arange(4), 2), **extra}
        if "label" not in extra:
            cols["correct"] = np.ones(8, dtype=bool)
        _npz(d / "records.npz", **cols)

    # Id sets differ: 13 at epoch 1, 99 at epoch 2.
    d = _fresh(BAD / "id_sets_differ")
    _npz(d / "epoch_1.npz", logits=_logits(20), labels=LABELS, ids=ids)
    _npz(d / "epoch_2.npz", logits=_logits(21), labels=LABELS, ids=np.array([10, 11, 12, 99]))

    # Sample 12 has label 2 at epoch 1 and 0 at epoch 2 (rows shuffled at epoch 2).
    d = _fresh(BAD / "label_changes_with_ids")
    _npz(d / "epoch_1.npz", logits=_logits(22), labels=LABELS, ids=ids)
    perm = np.array([3, 2, 1, 0])
    lab2 = LABELS.copy()
    lab2[2] = 0
    _npz(d / "epoch_2.npz", logits=_logits(23), labels=lab2[perm], ids=ids[perm])

    # Non-numeric score dtypes.
    d = _fresh(BAD / "string_scores")
    np.save(d / "logits.npy", np.array([["0.1", "0.2", "0.7"]] * N))
    np.save(d / "labels.npy", LABELS)

    d = _fresh(BAD / "complex_scores")
    np.save(d / "logits.npy", _logits(24, e=E).astype(np.complex64))
    np.save(d / "labels.npy", LABELS)

    # Non-numeric labels.
    d = _fresh(BAD / "string_labels")
    np.save(d / "logits.npy", _logits(24, e=E))
    np.save(d / "labels.npy", np.array(["cat", "dog", "cat", "cow"]))

    # Scores of rank 4.
    d = _fresh(BAD / "rank4_scores")
    np.save(d / "logits.npy", _logits(25, e=E)[..., None])
    np.save(d / "labels.npy", LABELS)

    # Every label -100 at epoch 2.
    d = _fresh(BAD / "all_ignored")
    _npz(d / "epoch_1.npz", logits=_logits(26), labels=LABELS)
    _npz(d / "epoch_2.npz", logits=_logits(27), labels=np.full(N, -100, dtype=np.int64))

    # Probabilities at epoch 1, logits at epoch 2, under a key that names no kind.
    d = _fresh(BAD / "kind_contradiction")
    p = np.array([[0.2, 0.3, 0.5], [0.1, 0.8, 0.1], [1.0, 0.0, 0.0], [0.3, 0.3, 0.4]])
    _npz(d / "epoch_1.npz", scores=p.astype(np.float32), labels=LABELS)
    _npz(d / "epoch_2.npz", scores=_logits(28) * 3, labels=LABELS)

    # Keys that name a kind the values do not show: read as another kind, a guess.
    d = _fresh(BAD / "probs_key_on_logits")  # logits saved as probs.npy
    np.save(d / "probs.npy", (_logits(40, e=E) * 2).round(2))
    np.save(d / "labels.npy", LABELS)
    d = _fresh(BAD / "probs_key_unnormalised")  # in [0, 1], rows summing to 0.8 at epoch 2
    q = np.tile(p.astype(np.float32), (E, 1, 1))
    q[1] *= 0.8
    np.save(d / "test_probs.npy", q)
    np.save(d / "test_labels.npy", LABELS)
    d = _fresh(BAD / "log_probs_key_above_zero")
    _npz(d / "epoch_1.npz", log_probs=np.log(p.clip(0.01)) + 0.5, labels=LABELS)
    d = _fresh(BAD / "probs_key_binary_outside")  # one score a sample, 1.5 at epoch 2
    np.save(d / "probs.npy", np.array([[0.2, 0.9, 0.4, 0.6], [0.1, 1.5, 0.3, 0.7]]))
    np.save(d / "labels.npy", np.array([0, 1, 0, 1]))

    # A 2-D scores array that could be [E, N] or [N, C]: 4 x 4 with 4 labels.
    d = _fresh(BAD / "ambiguous_2d")
    np.save(d / "logits.npy", _logits(29, n=N, c=N))
    np.save(d / "labels.npy", np.array([0, 1, 1, 0], dtype=np.int64))

    # A row whose every class is -inf (no class possible) at epoch 2.
    d = _fresh(BAD / "all_neg_inf_row")
    _npz(d / "epoch_1.npz", logits=_logits(31), labels=LABELS)
    x = _logits(32)
    x[1] = -np.inf
    _npz(d / "epoch_2.npz", logits=x, labels=LABELS)

    # Scores with no samples.
    d = _fresh(BAD / "empty_scores")
    np.save(d / "logits.npy", np.zeros((E, 0, C), dtype=np.float32))
    np.save(d / "labels.npy", np.zeros(0, dtype=np.int64))

    # A Dataset Cartography file whose records have different numbers of logits.
    d = _fresh(BAD / "ragged_jsonl")
    (d / "dynamics_epoch_0.jsonl").write_text(
        '{"guid": 0, "logits_epoch_0": [0.1, 0.2], "gold": 1}\n'
        '{"guid": 1, "logits_epoch_0": [0.3], "gold": 0}\n'
    )

    # A scores file without labels.
    d = _fresh(BAD / "no_labels")
    _npz(d / "epoch_1.npz", logits=_logits(30))

    # A Dataset Cartography file with a broken line.
    d = _fresh(BAD / "bad_jsonl")
    (d / "dynamics_epoch_0.jsonl").write_text(
        '{"guid": 0, "logits_epoch_0": [0.1, 0.2], "gold": 1}\n{"guid": 1, "logits_epo\n'
    )


def make_hardening() -> None:
    """Damaged and hostile files of issue 15 (each an input error, never a wrong number)."""
    import json
    import zipfile

    def npy(arr: np.ndarray) -> bytes:
        buf = io.BytesIO()
        np.save(buf, arr)
        return buf.getvalue()

    # Two members named logits: which one numpy reads is luck.
    d = _fresh(BAD / "npz_duplicate_member")
    with zipfile.ZipFile(d / "epoch_1.npz", "w") as zf:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Duplicate name"
            for name, arr in [("logits", _logits(60)), ("logits", _logits(61)), ("labels", LABELS)]:
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(2026, 1, 1, 0, 0, 0))
                zf.writestr(info, npy(arr))

    # A member whose header promises 10**12 floats in a few bytes (a zip bomb's first step).
    d = _fresh(BAD / "npz_member_oversized")
    with zipfile.ZipFile(d / "epoch_1.npz", "w") as zf:
        big = npy(_logits(62)).replace(b"(4, 3)", b"(1000000, 1000000)")
        for name, data in [("logits", big), ("labels", npy(LABELS))]:
            zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(2026, 1, 1, 0, 0, 0)), data)

    # A .npy header declaring a 2 GiB header.
    d = _fresh(BAD / "npy_huge_header")
    (d / "logits.npy").write_bytes(b"\x93NUMPY\x02\x00" + (2**31).to_bytes(4, "little") + b"{")
    np.save(d / "labels.npy", LABELS)

    # A shape whose byte count overflows int64 (it wrapped to a small number before).
    d = _fresh(BAD / "npy_shape_overflow")
    raw = npy(_logits(63, e=E)).replace(b"(2, 4, 3)", b"(4294967296, 4294967296, 3)")
    (d / "logits.npy").write_bytes(raw)
    np.save(d / "labels.npy", LABELS)

    # Labels that are a single number.
    d = _fresh(BAD / "zero_d_labels")
    np.save(d / "logits.npy", _logits(64, e=E))
    np.save(d / "labels.npy", np.array(1))

    # An epoch file that is a link to /dev/zero: endless zeros, refused by its type.
    d = _fresh(BAD / "dev_zero_link")
    np.save(d / "labels.npy", LABELS)
    (d / "logits.npy").symlink_to("/dev/zero")

    # Cartography records with a 400-digit number, 100,000-deep nesting, a 2**64 guid.
    for case, record in [
        ("jsonl_huge_int", {"guid": 0, "logits_epoch_0": "BIG", "gold": 0}),
        ("jsonl_deep", {"guid": 0, "logits_epoch_0": "DEEP", "gold": 0}),
        ("jsonl_guid_overflow", {"guid": "GUID", "logits_epoch_0": [0.1, 0.2], "gold": 0}),
    ]:
        d = _fresh(BAD / case)
        line = json.dumps(record)
        line = line.replace('"BIG"', "[1, " + "9" * 400 + "]").replace(
            '"DEEP"', "[" * 100_000 + "]" * 100_000
        )
        line = line.replace('"GUID"', str(2**64))
        (d / "dynamics_epoch_0.jsonl").write_text(
            line + '\n{"guid": 1, "logits_epoch_0": [0.3, 0.1], "gold": 1}\n'
        )

    # A .pt tensor expanded from one row (stride 0): 4 rows declared, 1 stored.
    import torch

    d = _fresh(BAD / "pt_stride_zero")
    torch.save(
        {"logits": torch.zeros(1, C).expand(N, C), "labels": torch.from_numpy(LABELS)},
        d / "epoch_1.pt",
    )


def make_readers() -> None:
    """Damaged safetensors and table files (issue 15): each refused in one line naming it."""
    import json
    import struct

    import pyarrow as pa
    import pyarrow.feather
    import pyarrow.parquet
    from safetensors.numpy import save

    raw = save({"logits": _logits(70), "labels": LABELS})
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])

    def with_header(h: dict, declared: int | None = None) -> bytes:
        text = json.dumps(h).encode()
        text += b" " * (-len(text) % 8)
        return struct.pack("<Q", declared or len(text)) + text + raw[8 + n :]

    # Data cut short: the last tensor's bytes end past the end of the file.
    d = _fresh(BAD / "safetensors_truncated")
    (d / "epoch_1.safetensors").write_bytes(raw[:-20])

    # A header length of 2**40 bytes (safetensors' own limit is 100 MB).
    d = _fresh(BAD / "safetensors_huge_header")
    (d / "epoch_1.safetensors").write_bytes(with_header(header, 2**40))

    # A shape whose bytes (dtype x shape) are not the span of its data_offsets.
    d = _fresh(BAD / "safetensors_offsets_mismatch")
    h = json.loads(json.dumps(header))
    h["logits"]["shape"] = [4, 4]
    (d / "epoch_1.safetensors").write_bytes(with_header(h))

    # A tensor declaring 4 TB (10**6 x 10**6 float32) in a 200-byte file.
    d = _fresh(BAD / "safetensors_oversized")
    h = json.loads(json.dumps(header))
    h["logits"]["shape"] = [10**6, 10**6]
    (d / "epoch_1.safetensors").write_bytes(with_header(h))

    table = pa.table(
        {"label": LABELS, **{f"logit_{k}": _logits(71)[:, k] for k in range(C)}}
    )  # fmt: skip

    # A Parquet file cut before its footer.
    d = _fresh(BAD / "parquet_truncated")
    buf = pa.BufferOutputStream()
    pyarrow.parquet.write_table(table, buf)
    (d / "epoch_1.parquet").write_bytes(buf.getvalue().to_pybytes()[:-30])

    # A Feather (Arrow IPC) file cut before its footer.
    d = _fresh(BAD / "feather_truncated")
    buf = pa.BufferOutputStream()
    pyarrow.feather.write_feather(table, buf)
    (d / "epoch_1.feather").write_bytes(buf.getvalue().to_pybytes()[:-30])

    # A table that is a link to /dev/zero: refused by its type, before pyarrow reads it.
    d = _fresh(BAD / "table_dev_zero_link")
    (d / "epoch_1.csv").symlink_to("/dev/zero")


def make_ok() -> None:
    # -inf is a masked class, not an error.
    d = _fresh(OK / "neg_inf_masked")
    for e in (1, 2):
        x = _logits(40 + e)
        x[:, 2] = -np.inf  # class 2 is masked for everyone ...
        x[2, 2] = 0.5  # ... except the one sample whose label is 2
        _npz(d / f"epoch_{e}.npz", logits=x, labels=LABELS)

    # Without ids, labels that change between epochs mean "not aligned", not an error.
    d = _fresh(OK / "unaligned_no_ids")
    _npz(d / "epoch_1.npz", logits=_logits(50), labels=LABELS)
    _npz(d / "epoch_2.npz", logits=_logits(51), labels=LABELS[::-1].copy())


if __name__ == "__main__":
    make_bad()
    make_hardening()
    make_readers()
    make_ok()
    print(f"wrote {BAD} and {OK}")
