"""Readers under hostile or damaged input (issue 15): every case is one clean input error
(exit 3, one line naming the file) or the numbers torch/numpy give, never a wrong number,
a crash, a hang or an allocation the file does not back."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from predaudit.cli import main
from predaudit.errors import InputError
from predaudit.io.formats import open_container
from predaudit.io.npy import NpyContainer

LABELS = np.array([0, 1, 2, 1])
D400 = "an integer of 400 digits; at most 40 are accepted"
D5000 = "an integer of 5000 digits; at most 40 are accepted"


@pytest.fixture(autouse=True)
def no_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)


def inspect(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["inspect", *args])
    return result.exit_code, result.stdout, result.stderr


def stacked_run(folder: Path) -> Path:
    folder.mkdir()
    np.save(folder / "logits.npy", np.arange(24, dtype=np.float32).reshape(2, 4, 3))
    np.save(folder / "labels.npy", LABELS)
    return folder


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


# -- special files are refused by type, not skipped and never opened -------------------------


def test_fifo_epoch_file_is_refused_by_type(tmp_path: Path) -> None:
    run = tmp_path / "fifo"
    run.mkdir()
    np.save(run / "labels.npy", LABELS)
    os.mkfifo(run / "logits.npy")  # opening it would block forever
    for target in ("fifo", "fifo/logits.npy"):
        assert inspect(target) == (
            3,
            "",
            "Error: fifo/logits.npy: is not a regular file (a named pipe); refused\n",
        )


def test_link_to_dev_zero_is_refused_by_type(tmp_path: Path) -> None:
    run = tmp_path / "zero"
    run.mkdir()
    np.save(run / "labels.npy", LABELS)
    (run / "epoch_1.npz").symlink_to("/dev/zero")
    assert inspect("zero") == (
        3,
        "",
        "Error: zero/epoch_1.npz: is not a regular file (a character device); refused\n",
    )


# -- .npz --------------------------------------------------------------------------------------


def test_npz_with_two_members_of_one_name_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "dup"
    run.mkdir()
    with zipfile.ZipFile(run / "epoch_1.npz", "w") as zf, pytest.warns(UserWarning):
        zf.writestr("logits.npy", npy_bytes(np.zeros((4, 3), np.float32)))
        zf.writestr("logits.npy", npy_bytes(np.ones((4, 3), np.float32)))
        zf.writestr("labels.npy", npy_bytes(LABELS))
    assert inspect("dup") == (
        3,
        "",
        "Error: dup/epoch_1.npz: holds two members named 'logits'; refused, "
        "which one is meant is unclear\n",
    )


def test_npz_member_declaring_more_data_than_it_holds(tmp_path: Path) -> None:
    """A header promising (10**6, 10**6) floats in a 100-byte member: refused before reading."""
    run = tmp_path / "big"
    run.mkdir()
    data = npy_bytes(np.zeros((4, 3), np.float32)).replace(b"(4, 3)", b"(1000000, 1000000)")
    with zipfile.ZipFile(run / "epoch_1.npz", "w") as zf:
        zf.writestr("logits.npy", data)
        zf.writestr("labels.npy", npy_bytes(LABELS))
    code, out, err = inspect("big")
    assert (code, out) == (3, "")
    assert err.startswith("Error: big/epoch_1.npz: is truncated: member 'logits' declares ")
    assert err.count("\n") == 1


def test_npz_member_over_the_memory_budget(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    run = tmp_path / "budget"
    run.mkdir()
    np.savez(run / "epoch_1.npz", logits=np.zeros((50, 3), np.float32), labels=np.zeros(50, int))
    monkeypatch.setenv("PREDAUDIT_MAX_BYTES", "300")
    code, _, err = inspect("budget")
    assert code == 3
    assert err.startswith("Error: budget/epoch_1.npz: member '")
    assert "over the limit of 300 bytes (set PREDAUDIT_MAX_BYTES to raise it)\n" in err


# -- .npy --------------------------------------------------------------------------------------


def test_npy_shape_whose_byte_count_overflows_int64_is_truncated_not_mapped(
    tmp_path: Path,
) -> None:
    path = tmp_path / "logits.npy"
    raw = npy_bytes(np.zeros((2, 4, 3), np.float32))
    path.write_bytes(raw.replace(b"(2, 4, 3)", b"(4294967296, 4294967296, 3)"))
    with pytest.raises(InputError, match="is truncated: the header promises 221360928884514619392"):
        open_container(path)


def test_npy_header_declaring_a_huge_length(tmp_path: Path) -> None:
    path = tmp_path / "logits.npy"
    path.write_bytes(b"\x93NUMPY\x02\x00" + (2**31).to_bytes(4, "little") + b"{")
    with pytest.raises(InputError) as info:
        open_container(path)
    assert str(info.value) == (
        f"{path}: is not a valid .npy file (its header declares 2147483648 bytes, over 65536)"
    )


def test_zero_d_labels_are_an_input_error(tmp_path: Path) -> None:
    run = tmp_path / "zerod"
    run.mkdir()
    np.save(run / "logits.npy", np.zeros((2, 4, 3), np.float32))
    np.save(run / "labels.npy", np.array(1))
    assert inspect("zerod") == (
        3,
        "",
        "Error: zerod/labels.npy: holds a single value (a 0-d array); expected one per sample\n",
    )


def test_npy_that_shrinks_between_epochs_is_an_input_error_not_sigbus(tmp_path: Path) -> None:
    run = stacked_run(tmp_path / "shrink")
    path = run / "logits.npy"
    c = NpyContainer(path, "logits")
    rows = c.iter_rows("logits")
    first = np.array(next(rows))
    np.testing.assert_array_equal(first, np.arange(12, dtype=np.float32).reshape(4, 3))
    with open(path, "r+b") as fh:  # cut the second epoch off while the run is being read
        fh.truncate(os.path.getsize(path) - 8)
    with pytest.raises(InputError) as info:
        next(rows)
    assert str(info.value) == (
        f"{path}: changed while being read: it now holds 88 bytes of data, the header promises 96"
    )


# -- .pt ---------------------------------------------------------------------------------------


def _deflated(src: Path, dest: Path) -> None:
    """``src`` (a torch zip file) rewritten with every record compressed."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))


def test_pt_with_compressed_records_gives_torchs_numbers_not_mapped_bytes(tmp_path: Path) -> None:
    """torch.load(mmap=True) maps compressed bytes as if they were the floats; predaudit
    must read such a file as torch.load without mmap does."""
    logits = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    torch.save({"logits": logits, "labels": torch.tensor(LABELS)}, tmp_path / "plain.pt")
    _deflated(tmp_path / "plain.pt", tmp_path / "epoch_1.pt")
    mapped = torch.load(tmp_path / "epoch_1.pt", weights_only=True, mmap=True)["logits"]
    assert not torch.equal(mapped, logits)  # the hazard is real
    c = open_container(tmp_path / "epoch_1.pt")
    np.testing.assert_array_equal(c.read("logits"), logits.numpy())


def test_pt_expanded_stride_zero_tensor_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "stride"
    run.mkdir()
    big = torch.zeros(1, 3).expand(4, 3)
    torch.save({"logits": big, "labels": torch.tensor(LABELS)}, run / "epoch_1.pt")
    assert inspect("stride") == (
        3,
        "",
        "Error: stride/epoch_1.pt: tensor 'logits' of shape (4, 3) declares 48 bytes but its "
        "storage holds 12 (an expanded or stride-0 view); save a contiguous tensor "
        "(.contiguous()) instead\n",
    )


# -- JSON: Dataset Cartography records, baselines, class names ---------------------------------


def _jsonl(folder: Path, *lines: str) -> None:
    folder.mkdir()
    (folder / "dynamics_epoch_0.jsonl").write_text("".join(line + "\n" for line in lines))


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (
            '{"guid": 1, "logits_epoch_0": [1, ' + "9" * 400 + '], "gold": 0}',
            "line 1 is not valid JSON (an integer of 400 digits; at most 40 are accepted)",
        ),
        (
            '{"guid": 1, "logits_epoch_0": [1, ' + "9" * 5000 + '], "gold": 0}',
            "line 1 is not valid JSON (an integer of 5000 digits; at most 40 are accepted)",
        ),
        (
            '{"guid": 1, "logits_epoch_0": ' + "[" * 100_000 + "]" * 100_000 + ', "gold": 0}',
            "line 1 is not valid JSON (nested too deeply)",
        ),
        (
            '{"guid": 18446744073709551616, "logits_epoch_0": [1, 2], "gold": 0}',
            "record 1 has a guid outside the 64-bit integer range",
        ),
        (
            '{"guid": -18446744073709551616, "logits_epoch_0": [1, 2], "gold": 0}',
            "record 1 has a guid outside the 64-bit integer range",
        ),
        (
            '{"guid": 1, "logits_epoch_0": [1, 1e999999], "gold": 0}',
            None,  # +inf: the validator's message
        ),
    ],
)
def test_hostile_jsonl_is_a_clean_input_error(tmp_path: Path, line: str, problem: str) -> None:
    _jsonl(tmp_path / "j", line, '{"guid": 2, "logits_epoch_0": [1, 2], "gold": 1}')
    code, out, err = inspect("j")
    assert (code, out) == (3, ""), err
    assert err.count("\n") == 1
    if problem is not None:
        assert err == f"Error: j/dynamics_epoch_0.jsonl: {problem}\n"


def _baseline_run(tmp_path: Path) -> Path:
    run = stacked_run(tmp_path / "run")
    result = CliRunner().invoke(main, ["analyze", "run", "--format", "json"])
    assert result.exit_code == 0, result.output
    (tmp_path / "base.json").write_text(result.stdout)
    return run


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda s: s.replace('"schema"', '"x": ' + "1" * 400 + ', "schema"', 1), D400),
        (lambda s: "[" * 100_000 + "]" * 100_000, "nested too deeply"),
        (lambda s: s.replace('"n_samples": 4', '"n_samples": ' + "9" * 5000), D5000),
    ],
)
def test_hostile_baseline_is_a_clean_input_error(tmp_path: Path, edit, problem: str) -> None:  # type: ignore[no-untyped-def]
    _baseline_run(tmp_path)
    base = tmp_path / "base.json"
    base.write_text(edit(base.read_text()))
    result = CliRunner().invoke(
        main, ["analyze", "run", "--check", "loss <= baseline.loss", "--baseline", "base.json"]
    )
    assert (result.exit_code, result.stdout) == (3, "")
    assert result.stderr == f"Error: base.json: not valid JSON ({problem})\n"


def test_baseline_with_a_huge_float_is_a_clean_input_error(tmp_path: Path) -> None:
    _baseline_run(tmp_path)
    base = tmp_path / "base.json"
    data = json.loads(base.read_text())
    text = json.dumps(data).replace('"loss": ', '"loss": 1' + "0" * 30 + 'e999 , "y": ', 1)
    base.write_text(text)
    result = CliRunner().invoke(
        main, ["analyze", "run", "--check", "loss <= baseline.loss", "--baseline", "base.json"]
    )
    assert result.exit_code in (0, 1, 3), result.output  # inf is a value, not a crash
    assert "internal error" not in result.stderr


def test_fifo_baseline_and_class_names_are_refused_by_type(tmp_path: Path) -> None:
    stacked_run(tmp_path / "run")
    os.mkfifo(tmp_path / "pipe.json")
    result = CliRunner().invoke(
        main, ["analyze", "run", "--check", "loss <= baseline.loss", "--baseline", "pipe.json"]
    )
    assert (result.exit_code, result.stderr) == (
        3,
        "Error: pipe.json: is not a regular file (a named pipe); refused\n",
    )
    result = CliRunner().invoke(main, ["confusion", "run", "--class-names", "pipe.json"])
    assert (result.exit_code, result.stderr) == (
        3,
        "Error: pipe.json: is not a regular file (a named pipe); refused\n",
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[" * 100_000 + "]" * 100_000, "not valid JSON (nested too deeply)"),
        ('["a", "b", ' + "7" * 400 + "]", f"not valid JSON ({D400})"),
    ],
)
def test_hostile_class_names_are_a_clean_input_error(
    tmp_path: Path, text: str, problem: str
) -> None:
    stacked_run(tmp_path / "run")
    (tmp_path / "names.json").write_text(text)
    result = CliRunner().invoke(main, ["confusion", "run", "--class-names", "names.json"])
    assert (result.exit_code, result.stdout) == (3, "")
    assert result.stderr == f"Error: names.json: {problem}\n"


def test_pt_that_shrinks_after_loading_is_an_input_error_not_sigbus(tmp_path: Path) -> None:
    path = tmp_path / "epoch_1.pt"
    torch.save({"logits": torch.zeros(2, 4, 3), "labels": torch.tensor(LABELS)}, path)
    c = open_container(path)
    rows = c.iter_rows("logits")
    np.testing.assert_array_equal(next(rows), np.zeros((4, 3), np.float32))
    size = os.path.getsize(path)
    with open(path, "r+b") as fh:
        fh.truncate(size - 100)
    with pytest.raises(InputError) as info:
        next(rows)
    assert str(info.value) == (
        f"{path}: changed while being read: it now holds {size - 100} bytes, it held {size}"
    )
