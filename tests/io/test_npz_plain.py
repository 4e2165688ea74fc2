"""The ``.npz`` reader's direct path (io/zipdir.py, NpzContainer) against numpy and zipfile.

A plain archive of stored members is read from the file without :mod:`zipfile`; it must
give exactly what ``np.load`` gives. Anything else goes through :mod:`zipfile`, and a
member that fails its CRC-32 gives zipfile's error. The ``.npy`` header parser's fast
form must give what numpy's own parser gives for the same text.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import predaudit.io.npz as npz
from predaudit.errors import InputError
from predaudit.io.container import _npy_header, npy_header_in
from predaudit.io.npz import NpzContainer
from predaudit.io.zipdir import stored_members
from predaudit.record.npzwrite import write_npz

RNG = np.random.default_rng(17)
ARRAYS = {
    "logits": RNG.normal(size=(50, 10)).astype(np.float32),
    "labels": RNG.integers(0, 10, 50),
    "ids": np.arange(50, dtype=np.int64),
    "names": np.array(["a", "bb", "ccc"]),
    "scalar": np.float64(3.5),
    "empty": np.zeros((0, 3), dtype=np.float16),
    "fortran": np.asfortranarray(RNG.normal(size=(4, 3))),
}


def same_as_numpy(path: Path, *, plain: bool) -> None:
    c = NpzContainer(path)
    try:
        assert (c._zip is None) is plain, "read through zipfile" if plain else "read directly"
        with np.load(path, allow_pickle=False) as ref:
            assert c.keys() == list(ref.files)
            for key in ref.files:
                got, want = c.read(key), ref[key]
                assert got.dtype == want.dtype and got.shape == want.shape, key
                assert got.tobytes(order="A") == want.tobytes(order="A"), key
                assert got.flags.f_contiguous == want.flags.f_contiguous, key
    finally:
        c.close()


def test_np_savez_is_read_directly(tmp_path: Path) -> None:
    np.savez(tmp_path / "a.npz", **ARRAYS)
    same_as_numpy(tmp_path / "a.npz", plain=True)


def test_the_recorders_archive_is_read_directly(tmp_path: Path) -> None:
    arrays = [(k, v) for k, v in ARRAYS.items() if v.ndim and v.flags.c_contiguous]
    write_npz(tmp_path / "r.npz", arrays)
    same_as_numpy(tmp_path / "r.npz", plain=True)
    pieces = [("logits", [ARRAYS["logits"][:20], ARRAYS["logits"][20:]])]
    write_npz(tmp_path / "p.npz", pieces, order=np.arange(50)[::-1])  # streamed, CRC patched
    same_as_numpy(tmp_path / "p.npz", plain=True)


def test_a_large_archive_is_read_member_by_member(tmp_path: Path) -> None:
    big = RNG.normal(size=(600_000,))  # 4.8 MB: more than is read whole
    np.savez(tmp_path / "big.npz", logits=big, labels=np.zeros(3, dtype=np.int64))
    same_as_numpy(tmp_path / "big.npz", plain=True)


def test_zip64_records_are_read_as_zipfile_reads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # zipfile writes ZIP64 extra fields and end records once sizes pass ZIP64_LIMIT
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 64)
    with zipfile.ZipFile(tmp_path / "z.npz", "w") as zf:
        for key in ("logits", "labels"):
            buf = io.BytesIO()
            np.save(buf, ARRAYS[key])
            with zf.open(f"{key}.npy", "w", force_zip64=True) as fp:
                fp.write(buf.getvalue())
    raw = (tmp_path / "z.npz").read_bytes()
    assert b"PK\x06\x06" in raw and b"PK\x06\x07" in raw
    monkeypatch.undo()
    same_as_numpy(tmp_path / "z.npz", plain=True)


@pytest.mark.parametrize("how", ["compressed", "comment", "prepended", "extra_field"])
def test_other_archives_go_through_zipfile(tmp_path: Path, how: str) -> None:
    path = tmp_path / "x.npz"
    if how == "compressed":
        np.savez_compressed(path, **ARRAYS)
    else:
        np.savez(path, **ARRAYS)
    if how == "comment":
        with zipfile.ZipFile(path, "a") as zf:
            zf.comment = b"a comment"
    elif how == "prepended":  # a self-extracting stub: zipfile finds the members (np.load not)
        path.write_bytes(b"#!stub\n" * 10 + path.read_bytes())
        c = NpzContainer(path)
        assert c._zip is not None and c.read("labels").tobytes() == ARRAYS["labels"].tobytes()
        c.close()
        return
    elif how == "extra_field":
        src = zipfile.ZipFile(path)
        with zipfile.ZipFile(tmp_path / "y.npz", "w") as zout:
            for info in src.infolist():
                info.extra = struct.pack("<HH4s", 0x5455, 4, b"abcd")  # an 'UT' timestamp
                zout.writestr(info, src.read(info))
        path = tmp_path / "y.npz"
    same_as_numpy(path, plain=False)


def _damaged(tmp_path: Path, member: str) -> Path:
    path = tmp_path / "epoch_1.npz"
    np.savez(path, logits=ARRAYS["logits"], labels=ARRAYS["labels"])
    raw = bytearray(path.read_bytes())
    info = zipfile.ZipFile(path).getinfo(member)
    raw[info.header_offset + 30 + len(member) + 200] ^= 0x10  # a byte of the data
    path.write_bytes(bytes(raw))
    return path


@pytest.mark.parametrize("member", ["logits.npy", "labels.npy"])
def test_a_damaged_member_gives_zipfiles_error(tmp_path: Path, member: str) -> None:
    path = _damaged(tmp_path, member)
    key = member[:-4]
    messages = []
    for plain in (True, False):
        try:
            c = NpzContainer(path, plain=plain)
            c.read(key)
        except InputError as exc:
            messages.append(str(exc))
    assert len(messages) == 2 and messages[0] == messages[1], messages
    assert (
        messages[0]
        == f"{path}: is corrupt: member '{key}' cannot be read (Bad CRC-32 for file '{member}')"
    )


def test_repeated_members_are_compared_with_bytes_already_summed_and_damage_still_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Labels and ids that every epoch's archive repeats are checked against the bytes of
    the same member whose CRC-32 matched before (equal bytes, equal sum); a damaged copy
    differs from them, is summed, and fails as before."""
    rng = np.random.default_rng(4)
    labels, ids = rng.integers(0, 10, 3000), np.arange(3000)  # 24 KB each: checked at open
    paths = []
    for e in range(3):
        path = tmp_path / f"epoch_{e}.npz"
        logits = rng.normal(size=(3000, 10)).astype(np.float32)
        np.savez(path, logits=logits, labels=labels, ids=ids)
        paths.append(path)
    summed: list[int] = []
    real = zlib.crc32

    def spy(data, *args):  # type: ignore[no-untyped-def]
        summed.append(len(data))
        return real(data, *args)

    monkeypatch.setattr(zlib, "crc32", spy)
    monkeypatch.setattr(npz, "_VERIFIED", {})  # nothing summed before this test
    for path in paths:
        c = NpzContainer(path)
        np.testing.assert_array_equal(c.read("labels"), labels)
        np.testing.assert_array_equal(c.read("ids"), ids)
        assert c.read("logits").shape == (3000, 10)
    # the first archive sums its three members, the others only their new logits
    n_logits, n_labels = 128 + 120000, 128 + labels.nbytes
    assert summed == [n_logits, n_labels, n_labels, n_logits, n_logits]
    raw = bytearray(paths[1].read_bytes())
    info = zipfile.ZipFile(paths[1]).getinfo("labels.npy")
    raw[info.header_offset + 30 + len("labels.npy") + 200] ^= 0x10  # a byte of the data
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(bytes(raw))
    with pytest.raises(InputError) as err:
        NpzContainer(damaged).read("labels")
    assert str(err.value) == (
        f"{damaged}: is corrupt: member 'labels' cannot be read (Bad CRC-32 for file 'labels.npy')"
    )


def test_stored_members_declines_what_it_does_not_know(tmp_path: Path) -> None:
    path = tmp_path / "a.npz"
    np.savez_compressed(path, logits=ARRAYS["logits"])
    raw = path.read_bytes()
    import os

    fd = os.open(path, os.O_RDONLY)
    try:
        assert stored_members(fd, len(raw), raw) is None  # deflated
        assert stored_members(fd, 10, raw[:10]) is None  # too short for an end record
    finally:
        os.close(fd)


# -- the .npy header --------------------------------------------------------------------------

DESCRS = ["<f4", ">f4", "<f8", "<f2", "|b1", "<i8", "|u1", "<U3", "|S0", "|O", "<c8", "|V4",
          "=f4", "f4", "<q", "<x", "<f5", "<i0", "|S10"]  # fmt: skip
SHAPES = [(), (0,), (4,), (10000, 10), (2, 4, 3), (1,) * 7, (2**40, 3)]


def numpy_header(text: str, version: int = 1) -> bytes:
    body = text.encode("latin1")
    if version == 1:
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body
    return b"\x93NUMPY\x02\x00" + struct.pack("<I", len(body)) + body


def outcome(fn, *args):  # type: ignore[no-untyped-def]
    try:
        return fn(*args)
    except InputError as exc:
        return str(exc)


@settings(max_examples=150, deadline=None, database=None)
@given(
    descr=st.sampled_from(DESCRS),
    shape=st.sampled_from(SHAPES),
    fortran=st.booleans(),
    pad=st.integers(0, 70),
    version=st.sampled_from([1, 2]),
    form=st.sampled_from(["repr", "no_comma", "trailing", "spaces", "order", "tab", "nbsp"]),
)
def test_header_fast_form_equals_numpys_parser(
    descr: str, shape: tuple[int, ...], fortran: bool, pad: int, version: int, form: str
) -> None:
    shape_text = repr(shape)
    if form == "no_comma" and len(shape) == 1:
        shape_text = f"({shape[0]})"  # an int, not a tuple: numpy refuses it
    if form == "trailing" and len(shape) > 1:
        shape_text = shape_text[:-1] + ",)"
    text = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape_text}, }}"
    if form == "spaces":
        text = text.replace(": ", ":  ")
    if form == "order":
        text = f"{{'shape': {shape_text}, 'descr': '{descr}', 'fortran_order': {fortran}}}"
    ending = {"tab": "\t", "nbsp": "\xa0"}.get(form, " ")
    text += ending * pad + "\n"
    raw = numpy_header(text, version) + b"\0" * 64
    path = Path("x.npy")
    fast = outcome(npy_header_in, raw, path, "")
    slow = outcome(_npy_header, io.BytesIO(raw), path, "")
    assert fast == slow


def test_header_fast_form_matches_np_save() -> None:
    for arr in ARRAYS.values():
        buf = io.BytesIO()
        np.save(buf, arr)
        raw = buf.getvalue()
        shape, fortran, dtype, offset = npy_header_in(raw, Path("x.npy"), "")
        assert (shape, fortran, dtype) == (
            arr.shape,
            arr.flags.f_contiguous and not arr.flags.c_contiguous,
            arr.dtype,
        )
        assert offset == len(raw) - arr.nbytes


def test_a_header_read_again_gives_what_numpy_gives_each_time() -> None:
    """Headers parsed before are remembered by their bytes: the same text under another
    version (another data offset) or another name, and a refused header, each give what
    numpy's parser gives, however often they come."""
    text = "{'descr': '<f4', 'fortran_order': False, 'shape': (7, 3), }" + " " * 9 + "\n"
    bad = "{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 3), }" + " " * 8 + "\n"
    for _ in range(3):
        for raw_text in (text, bad):
            for version in (1, 2):
                raw = numpy_header(raw_text, version) + b"\0" * 84
                for path, key in ((Path("a.npz"), "logits"), (Path("b.npz"), "scores")):
                    fast = outcome(npy_header_in, raw, path, key)
                    assert fast == outcome(_npy_header, io.BytesIO(raw), path, key)
                    if raw_text is bad:
                        assert isinstance(fast, str) and fast.startswith(f"{path}: member '{key}'")
                    else:
                        assert fast[3] == (10 if version == 1 else 12) + len(raw_text)


def test_a_small_archive_keeps_no_file_open(tmp_path: Path) -> None:
    np.savez(tmp_path / "a.npz", **ARRAYS)
    import os

    before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    c = NpzContainer(tmp_path / "a.npz")
    if before is not None:
        assert len(os.listdir("/proc/self/fd")) == before
    assert c.read("labels").tobytes() == ARRAYS["labels"].tobytes()
    c.close()
