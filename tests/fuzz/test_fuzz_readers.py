"""Fuzzing every reader (issue 15, point 6): damaged files give a clean input error or the
numbers numpy/torch read from the same file, never a crash, a wrong number or a hang.

Each case starts from a small valid file of one format (``.npy``, ``.npz``, ``.pt``,
Cartography ``.jsonl``, ``.safetensors``, ``.parquet``, ``.feather``, Arrow stream, ``.csv``,
a zarr v3 store) and damages it: random bytes, bit flips, truncation at every offset of
the header, edits of a ``.npy`` header's shape and dtype, of a safetensors header's dtype,
shape and data_offsets, and of the zip structure of ``.npz``/``.pt`` (local and central
headers, compression method, declared sizes). The outcome must be either

- :class:`~predaudit.errors.InputError` whose message is one line starting with the file, or
- arrays equal (bit for bit, NaN included) to what ``np.load`` / ``torch.load`` /
  ``safetensors.torch.load_file`` / pyarrow's own readers give.

The default budget keeps the file well under 30 s; ``PREDAUDIT_FUZZ_EXAMPLES=5000 pytest
-m fuzz`` runs a long campaign.
"""

from __future__ import annotations

import io
import os
import re
import struct
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from predaudit.errors import InputError
from predaudit.io.formats import open_container

pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("PREDAUDIT_FUZZ_EXAMPLES", "25"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)

LOGITS = np.arange(24, dtype=np.float32).reshape(2, 4, 3) / 7 - 1
LABELS = np.array([0, 1, 2, 1], dtype=np.int64)


@pytest.fixture(autouse=True)
def small_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREDAUDIT_MAX_BYTES", str(1 << 20))  # a damaged size never allocates


def npy_bytes(arr: np.ndarray = LOGITS) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def npz_bytes() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, logits=LOGITS[0], labels=LABELS)
    return buf.getvalue()


def pt_bytes() -> bytes:
    buf = io.BytesIO()
    torch.save({"logits": torch.from_numpy(LOGITS[0].copy()), "labels": torch.tensor(LABELS)}, buf)
    return buf.getvalue()


def jsonl_bytes() -> bytes:
    rows = [
        f'{{"guid": {i}, "logits_epoch_0": [{LOGITS[0, i, 0]}, {LOGITS[0, i, 1]}], '
        f'"gold": {int(LABELS[i] % 2)}}}\n'
        for i in range(4)
    ]
    return "".join(rows).encode()


def safetensors_bytes() -> bytes:
    from safetensors.numpy import save

    return save({"logits": LOGITS[0], "labels": LABELS})


def table_bytes(fmt: str) -> bytes:
    import pyarrow as pa
    import pyarrow.csv
    import pyarrow.feather
    import pyarrow.parquet

    cols = {f"logit_{k}": LOGITS[0, :, k] for k in range(3)}
    t = pa.table({"label": LABELS, **cols})
    buf = io.BytesIO()
    if fmt == "parquet":
        pyarrow.parquet.write_table(t, buf)
    elif fmt == "feather":
        pyarrow.feather.write_feather(t, buf)
    elif fmt == "stream":
        with pa.ipc.new_stream(buf, t.schema) as w:
            w.write_table(t)
    else:
        pyarrow.csv.write_csv(t, buf)
    return buf.getvalue()


VALID = {
    "logits.npy": npy_bytes(),
    "epoch_1.npz": npz_bytes(),
    "epoch_1.pt": pt_bytes(),
    "dynamics_epoch_0.jsonl": jsonl_bytes(),
    "epoch_1.safetensors": safetensors_bytes(),
    "epoch_1.parquet": table_bytes("parquet"),
    "epoch_1.feather": table_bytes("feather"),
    "epoch_1.arrow": table_bytes("stream"),
    "epoch_1.csv": table_bytes("csv"),
}


def table_reference(path: Path) -> dict[str, np.ndarray]:
    """The table as pyarrow reads it: ``logit_K`` columns stacked as ``logits``, the rest
    by name (the layout predaudit's table reader promises)."""
    import pyarrow as pa
    import pyarrow.csv
    import pyarrow.feather
    import pyarrow.parquet

    if path.suffix == ".parquet":
        t = pyarrow.parquet.read_table(path)
    elif path.suffix == ".csv":
        t = pyarrow.csv.read_csv(path)
    else:
        try:
            t = pyarrow.feather.read_table(path)
        except pa.ArrowInvalid:
            with pa.ipc.open_stream(path) as r:
                t = r.read_all()
    names = [n for n in t.column_names if re.fullmatch(r"logit_\d+", n)]
    names.sort(key=lambda n: int(n.split("_")[1]))
    out = {n: np.ascontiguousarray(t.column(n).to_numpy()) for n in t.column_names}
    out = {n: v.astype(str) if v.dtype.hasobject else v for n, v in out.items()}  # as promised
    out["logits"] = np.column_stack([out[n] for n in names])
    return out


def safetensors_reference(path: Path) -> dict[str, np.ndarray]:
    """What safetensors' own torch loader reads (bfloat16 as its uint16 bit patterns)."""
    from safetensors.torch import load_file

    return {
        k: (v.view(torch.uint16) if v.dtype == torch.bfloat16 else v).numpy()
        for k, v in load_file(str(path)).items()
    }


def reference(path: Path) -> dict[str, np.ndarray]:
    """What numpy or torch read from ``path`` directly (raises when they cannot)."""
    name = path.name
    if name.endswith(".npy"):
        return {"logits": np.load(path, allow_pickle=False)}
    if name.endswith(".npz"):
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    if name.endswith(".pt"):
        obj = torch.load(path, weights_only=True, map_location="cpu")
        return {k: v.detach().numpy() for k, v in obj.items()}  # requires_grad: as predaudit
    if name.endswith(".safetensors"):
        return safetensors_reference(path)
    if path.suffix in (".parquet", ".feather", ".arrow", ".csv"):
        return table_reference(path)
    raise AssertionError(name)


def same(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.size == 0:
        return True  # no numbers to differ (an empty |S0 reads as |S1)
    if a.dtype != b.dtype:
        return False
    return a.tobytes() == b.tobytes()


def check(data: bytes, name: str) -> None:
    """Open ``data`` saved as ``name`` with predaudit's reader; judge the outcome."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            c = open_container(path)
            got = {k: np.array(c.read(k)) for k in c.keys()}
            rows = {k: [np.array(r) for r in c.iter_rows(k)] for k in c.keys() if c.shape(k)}
            c.close()
        except InputError as exc:
            text = str(exc)
            assert "\n" not in text and text.startswith(str(path) + ": "), text
            return
        if name.endswith(".jsonl"):
            return  # no other reader of Cartography's files: a success is a valid parse
        try:
            ref = reference(path)
        except Exception as exc:  # noqa: BLE001
            raise AssertionError(f"predaudit read what numpy/torch refuse ({exc!r})") from exc
        for key, arr in got.items():
            member = key if key in ref else next(iter(ref))
            assert same(arr, ref[member]), key
            if key in rows:
                for i, row in enumerate(rows[key]):
                    assert same(row, ref[member][i, ...]), (key, i)


# -- strategies --------------------------------------------------------------------------------

names = st.sampled_from(sorted(VALID))


@FUZZ
@given(name=names, data=st.binary(max_size=600))
def test_random_bytes(name: str, data: bytes) -> None:
    check(data, name)


@FUZZ
@given(name=names, flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 7)), max_size=6))
def test_bit_flips(name: str, flips: list[tuple[int, int]]) -> None:
    raw = bytearray(VALID[name])
    for pos, bit in flips:
        raw[pos % len(raw)] ^= 1 << bit
    check(bytes(raw), name)


@pytest.mark.parametrize("name", sorted(VALID))
def test_truncation_at_every_header_offset(name: str) -> None:
    raw = VALID[name]
    stops = list(range(0, min(len(raw), 160))) + list(range(160, len(raw), 37)) + [len(raw) - 1]
    for stop in stops:
        check(raw[:stop], name)


SHAPES = ["()", "(0,)", "(4,)", "(2, 4, 3)", "(3, 4, 2)", "(-1, 3)", "(2**62, 2)",
          "(4294967296, 4294967296, 3)", "(1,) * 40", "'x'", "(2, 4, 3, 1)", "(True,)"]  # fmt: skip
DESCRS = ["'<f4'", "'>f4'", "'<f8'", "'<f2'", "'|O'", "'<U3'", "'<c8'", "'|b1'", "'<i8'",
          "'V12'", "[('a', '<f4')]", "'<M8[s]'", "'|S0'", "'<f4' + 'x' * 50000"]  # fmt: skip


@FUZZ
@given(shape=st.sampled_from(SHAPES), descr=st.sampled_from(DESCRS), fortran=st.booleans())
def test_npy_header_mutations(shape: str, descr: str, fortran: bool) -> None:
    header = f"{{'descr': {descr}, 'fortran_order': {fortran}, 'shape': {shape}, }}"
    body = header.encode("latin1") + b" " * (-(len(header) + 11) % 64) + b"\n"
    data = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body + LOGITS.tobytes()
    check(data, "logits.npy")


def _zip_edit(raw: bytes, how: str, value: int) -> bytes:
    """Damage one field of every local or central zip header."""
    out = bytearray(raw)
    sig, fields = {
        "local": (b"PK\x03\x04", {"method": 8, "csize": 18, "usize": 22, "name_len": 26}),
        "central": (b"PK\x01\x02", {"method": 10, "csize": 20, "usize": 24, "offset": 42}),
    }[how.split(":")[0]]
    field = how.split(":")[1]
    if field not in fields:
        return raw
    at = fields[field]
    width = 2 if field in ("method", "name_len") else 4
    for m in re.finditer(re.escape(sig), raw):
        pos = m.start() + at
        out[pos : pos + width] = (value % (1 << (8 * width))).to_bytes(width, "little")
    return bytes(out)


ZIP_EDITS = [f"{part}:{field}" for part in ("local", "central")
             for field in ("method", "csize", "usize", "name_len", "offset")]  # fmt: skip
ZIP_VALUES = [0, 1, 8, 12, 14, 99, 2**16 - 1, 2**31, 2**32 - 1, 7, 100, 10**6]


@FUZZ
@given(
    name=st.sampled_from(["epoch_1.npz", "epoch_1.pt"]),
    edit=st.sampled_from(ZIP_EDITS),
    value=st.sampled_from(ZIP_VALUES) | st.integers(0, 2**32 - 1),
)
def test_zip_structure_edits(name: str, edit: str, value: int) -> None:
    check(_zip_edit(VALID[name], edit, value), name)


@FUZZ
@given(
    name=st.sampled_from(["epoch_1.npz", "epoch_1.pt"]), deflate=st.booleans(), dup=st.booleans()
)
def test_rezipped_members(name: str, deflate: bool, dup: bool) -> None:
    """The same members rewritten compressed, or with a member repeated."""
    src = zipfile.ZipFile(io.BytesIO(VALID[name]))
    buf = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    import warnings

    with zipfile.ZipFile(buf, "w", method) as zout, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name"
        for info in src.infolist():
            zout.writestr(info.filename, src.read(info.filename))
            if dup and info.filename.endswith((".npy", "/data/0")):
                zout.writestr(info.filename, src.read(info.filename)[::-1])
    check(buf.getvalue(), name)


def test_valid_files_read_exactly() -> None:
    for name, raw in VALID.items():
        check(raw, name)
    ref: Any = None
    del ref


ST_DTYPES = ["F32", "F16", "BF16", "F64", "I64", "I8", "U8", "BOOL", "F8_E4M3", "X", 7, None]
ST_SHAPES = [[4, 3], [3, 4], [12], [2, 2, 3], [4, 4], [], [0], [-4, 3], [2**62, 2],
             [4294967296, 4294967296, 3], [True, 3], "4x3", [1.5, 2]]  # fmt: skip
ST_OFFSETS = [[32, 80], [0, 48], [32, 79], [80, 32], [32, 2**64], [-1, 47], [32], [32, 80, 1],
              [32, 10**12], "0-48", [32.0, 80.0]]  # fmt: skip


@FUZZ
@given(
    dtype=st.sampled_from(ST_DTYPES),
    shape=st.sampled_from(ST_SHAPES),
    offsets=st.sampled_from(ST_OFFSETS),
    length=st.sampled_from(["exact", "short", "long", "huge"]),
)
def test_safetensors_header_mutations(dtype: Any, shape: Any, offsets: Any, length: str) -> None:
    """The header entry of ``logits`` rewritten, and the header length field edited."""
    import json

    raw = VALID["epoch_1.safetensors"]
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    header["logits"] = {"dtype": dtype, "shape": shape, "data_offsets": offsets}
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    declared = {"exact": len(text), "short": len(text) - 3, "long": len(text) + 5}.get(
        length, 2**63
    )
    check(struct.pack("<Q", declared) + text + raw[8 + n :], "epoch_1.safetensors")


# -- zarr stores (a folder: zarr.json and chunk files) ----------------------------------------


def _zarr_store(folder: Path) -> Path:
    import zarr

    path = folder / "logits.zarr"
    zarr.create_array(str(path), data=LOGITS, chunks=(1, 2, 3))
    return path


def _zarr_files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file())


def check_zarr(path: Path) -> None:
    """predaudit's zarr reader on a (damaged) store: a one-line input error naming the store,
    or the values zarr itself reads."""
    import zarr

    try:
        c = open_container(path)
        got = {k: np.array(c.read(k)[...]) for k in c.keys()}
        rows = {k: [np.array(r) for r in c.iter_rows(k)] for k in c.keys() if c.shape(k)}
        c.close()
    except InputError as exc:
        text = str(exc)
        assert "\n" not in text and text.startswith(str(path)), text
        return
    try:
        ref = np.asarray(zarr.open_array(str(path), mode="r")[...])
    except Exception as exc:  # noqa: BLE001
        raise AssertionError(f"predaudit read what zarr refuses ({exc!r})") from exc
    for key, arr in got.items():
        assert same(arr, ref), key
        for i, row in enumerate(rows.get(key, [])):
            assert same(row, ref[i, ...]), (key, i)


@FUZZ
@given(which=st.integers(0, 10**6), data=st.binary(max_size=400))
def test_zarr_random_bytes(which: int, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = _zarr_store(Path(tmp))
        files = _zarr_files(path)
        files[which % len(files)].write_bytes(data)
        check_zarr(path)


@FUZZ
@given(
    which=st.integers(0, 10**6),
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 7)), min_size=1, max_size=6),
)
def test_zarr_bit_flips(which: int, flips: list[tuple[int, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = _zarr_store(Path(tmp))
        files = _zarr_files(path)
        target = files[which % len(files)]
        raw = bytearray(target.read_bytes())
        for pos, bit in flips:
            raw[pos % len(raw)] ^= 1 << bit
        target.write_bytes(bytes(raw))
        check_zarr(path)


def test_zarr_truncation_of_every_file() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = _zarr_store(Path(tmp))
        for target in _zarr_files(path):
            raw = target.read_bytes()
            for stop in sorted({0, 1, len(raw) // 2, len(raw) - 1, *range(0, len(raw), 53)}):
                target.write_bytes(raw[:stop])
                check_zarr(path)
            target.write_bytes(raw)


def test_zarr_valid_store_reads_exactly() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = _zarr_store(Path(tmp))
        c = open_container(path)
        (key,) = c.keys()
        assert same(np.array(c.read(key)[...]), LOGITS)
        c.close()
