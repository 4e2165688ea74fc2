"""Broken input: exit code 3, exactly one line on stderr, nothing written (issue 2, point 5).

Every case is a small committed run under ``tests/assets/bad/<case>/`` written by
``tests/assets/make_bad_assets.py``. The CLI runs from ``tests/assets/bad`` with the
case's folder name as RUN, so the expected lines carry the path exactly as passed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from predaudit.cli import main
from predaudit.errors import InputError

BAD = Path(__file__).resolve().parents[1] / "assets" / "bad"
OK = Path(__file__).resolve().parents[1] / "assets" / "ok"
MARKER = "PREDAUDIT_UNPICKLED_MARKER"  # what unpickling the armed assets would create

ONE_OF = "expected e.g. logits.npy + labels.npy, epoch_001.npz, test/epoch_1.pt"
RANKS = "[epochs, samples, classes], [epochs, samples], [samples, classes] or [samples]"
NOT_FINITE = "(only -inf is accepted, as an impossible class)"

# case -> the message after "Error: " (the whole line is pinned).
EXPECTED = {
    "does_not_exist": "does_not_exist: does not exist",
    "no_predictions": (
        f"no_predictions: holds no recognisable prediction files ({ONE_OF} "
        "or dynamics_epoch_1.jsonl)"
    ),
    "truncated_npy": (
        "truncated_npy/logits.npy: is truncated: the header promises 96 bytes of data, found 76"
    ),
    "garbage_npy": (
        "garbage_npy/logits.npy: is not a valid .npy file (the magic string is not correct; "
        r"expected b'\x93NUMPY', got b'this i')"
    ),
    "corrupt_npz": "corrupt_npz/epoch_2.npz: is not a valid .npz archive (File is not a zip file)",
    "corrupt_npz_member": (
        "corrupt_npz_member/epoch_1.npz: is corrupt: member 'logits' cannot be read "
        "(Bad CRC-32 for file 'logits.npy')"
    ),
    "corrupt_pt": (
        "corrupt_pt/epoch_1.pt: is not a valid PyTorch file "
        "(PytorchStreamReader failed reading zip archive: failed finding central directory)"
    ),
    "object_npy": (
        "object_npy/logits.npy: holds Python objects (a pickle); refused, nothing was loaded"
    ),
    "pt_object": (
        "pt_object/epoch_1.pt: holds objects other than tensors, numbers, strings, lists and "
        "dicts (posix.mkdir); refused, nothing in it was executed"
    ),
    "nan_scores": f"nan_scores/epoch_2.npz: 2 logits are NaN at epoch 2 {NOT_FINITE}",
    "posinf_scores": f"posinf_scores/epoch_2.npz: 1 logit is +inf at epoch 2 {NOT_FINITE}",
    "label_out_of_range": (
        "label_out_of_range/labels.npy: 1 label is outside [0, 3) (e.g. 3 at row 2); "
        "only -100 may mark an ignored sample"
    ),
    "label_negative": (
        "label_negative/labels.npy: 1 label is outside [0, 3) (e.g. -1 at row 1); "
        "only -100 may mark an ignored sample"
    ),
    "label_count_mismatch": (
        "label_count_mismatch/labels.npy, label_count_mismatch/logits.npy: "
        "labels has 5 rows but scores have 4"
    ),
    "label_count_mismatch_npz": (
        "label_count_mismatch_npz/epoch_1.npz: labels has 3 rows but scores have 4"
    ),
    "class_count_changes": (
        "class_count_changes/epoch_1.npz, class_count_changes/epoch_2.npz: "
        "epoch 2 has 4 classes but epoch 1 has 3"
    ),
    "sample_count_changes": (
        "sample_count_changes/epoch_1.npz, sample_count_changes/epoch_2.npz: "
        "epoch 2 has 5 samples but epoch 1 has 4"
    ),
    "duplicate_epoch": (
        "duplicate_epoch/epoch_03.npz, duplicate_epoch/epoch_3.npz: both files claim epoch 3"
    ),
    "duplicated_ids": (
        "duplicated_ids/epoch_1.npz: sample ids have 1 duplicated value (e.g. 11); "
        "each sample needs its own id"
    ),
    "nan_ids": (
        "nan_ids/epoch_1.npz: sample ids hold 1 non-finite value (e.g. nan at row 2); each "
        "sample needs a number or text as its id"
    ),
    "records_nan_ids": (
        "records_nan_ids/records.npz: sample ids hold 2 non-finite values (e.g. inf at row 3); "
        "each sample needs a number or text as its id"
    ),
    "records_negative_loss": (
        "records_negative_loss/records.npz: column 'loss' is negative on 2 rows (e.g. -0.25 at "
        "row 1); a loss is ≥ 0 nats"
    ),
    "records_inf_loss": (
        "records_inf_loss/records.npz: column 'loss' is infinite on 1 row (e.g. inf at row 5); "
        "a loss is a finite number of nats"
    ),
    "records_nan_loss_labelled": (
        "records_nan_loss_labelled/records.npz: column 'loss' is NaN on 2 rows (e.g. nan at row "
        "1); give the loss, or label the sample -100"
    ),
    "records_text_loss": (
        "records_text_loss/records.npz: column 'loss' holds text ('n/a' at row 3); expected numbers"
    ),
    "records_fractional_label": (
        "records_fractional_label/records.npz: column 'label' holds 1.5 at row 2; expected integers"
    ),
    "records_p_true_above_one": (
        "records_p_true_above_one/records.npz: column 'p_true' lies outside [0, 1] on 8 rows "
        "(e.g. 1.25 at row 0); it is a probability"
    ),
    "id_sets_differ": (
        "id_sets_differ/epoch_1.npz, id_sets_differ/epoch_2.npz: the sample ids differ between "
        "epochs 1 and 2 (1 missing, e.g. 13; 1 new, e.g. 99)"
    ),
    "label_changes_with_ids": (
        "label_changes_with_ids/epoch_1.npz, label_changes_with_ids/epoch_2.npz: "
        "1 sample changes label between epochs 1 and 2 (e.g. id 12)"
    ),
    "string_scores": (
        "string_scores/logits.npy: scores 'logits' have the unsupported dtype text (<U3); "
        "expected real numbers"
    ),
    "complex_scores": (
        "complex_scores/logits.npy: scores 'logits' have the unsupported dtype complex64; "
        "expected real numbers"
    ),
    "string_labels": (
        "string_labels/labels.npy: labels have the unsupported dtype text (<U3); expected integers"
    ),
    "rank4_scores": (
        f"rank4_scores/logits.npy: scores 'logits' have shape (2, 4, 3, 1) (rank 4); "
        f"expected {RANKS}"
    ),
    "all_ignored": "all_ignored/epoch_2.npz: every sample is ignored (label -100) at epoch 2",
    "all_neg_inf_row": (
        "all_neg_inf_row/epoch_2.npz: 1 row has every class at -inf at epoch 2; "
        "at least one class must be possible"
    ),
    "kind_contradiction": (
        "kind_contradiction/epoch_1.npz, kind_contradiction/epoch_2.npz: scores look like "
        "logits at epoch 2 but like probs at epoch 1; pass --input-kind to say which"
    ),
    "probs_key_on_logits": (
        "probs_key_on_logits/probs.npy: the scores are named 'probs' but are not probabilities "
        "at epoch 1: values lie outside [0, 1] (-2.28 to 2.78); pass --input-kind to say what "
        "they are"
    ),
    "probs_key_unnormalised": (
        "probs_key_unnormalised/test_probs.npy: the scores are named 'probs' but are not "
        "probabilities at epoch 2: rows sum to as far as 0.2 from 1 (more than 1e-3); pass "
        "--input-kind to say what they are"
    ),
    "log_probs_key_above_zero": (
        "log_probs_key_above_zero/epoch_1.npz: the scores are named 'log_probs' but are not "
        "log-probabilities at epoch 1: values lie above 0 (up to 0.5); pass --input-kind to "
        "say what they are"
    ),
    "probs_key_binary_outside": (
        "probs_key_binary_outside/probs.npy: the scores are named 'probs' but are not "
        "probabilities at epoch 2: values lie outside [0, 1] (0.1 to 1.5); pass --input-kind "
        "to say what they are"
    ),
    "ambiguous_2d": (
        "ambiguous_2d/labels.npy, ambiguous_2d/logits.npy: scores of shape (4, 4) could be "
        "[epochs, samples] or [samples, classes]; save them as 3-D [epochs, samples, classes]"
    ),
    "empty_scores": "empty_scores/logits.npy: scores 'logits' are empty: shape (2, 0, 3)",
    "ragged_jsonl": (
        "ragged_jsonl/dynamics_epoch_0.jsonl: record 2 has 1 logits but record 1 has 2; "
        "every record needs one logit per class"
    ),
    "no_labels": (
        "no_labels/epoch_1.npz: has scores but no labels: none of the keys labels, targets, y, "
        "label_ids, label, target, y_true, y_test, y_val, gold (found: logits); and no labels "
        "file beside it"
    ),
    "bad_jsonl": (
        "bad_jsonl/dynamics_epoch_0.jsonl: line 2 is not valid JSON "
        "(Unterminated string starting at column 13)"
    ),
}

# Issue 15 (hardening): damaged or hostile files, each refused in one line.
EXPECTED.update(
    {
        "npz_duplicate_member": (
            "npz_duplicate_member/epoch_1.npz: holds two members named 'logits'; refused, "
            "which one is meant is unclear"
        ),
        "npz_member_oversized": (
            "npz_member_oversized/epoch_1.npz: is truncated: member 'logits' declares "
            "4000000000000 bytes of data, the archive holds 60"
        ),
        "npy_huge_header": (
            "npy_huge_header/logits.npy: is not a valid .npy file (its header declares "
            "2147483648 bytes, over 65536)"
        ),
        "npy_shape_overflow": (
            "npy_shape_overflow/logits.npy: is truncated: the header promises "
            "221360928884514619392 bytes of data, found 114"
        ),
        "zero_d_labels": (
            "zero_d_labels/labels.npy: holds a single value (a 0-d array); expected one per sample"
        ),
        "dev_zero_link": (
            "dev_zero_link/logits.npy: is not a regular file (a character device); refused"
        ),
        "jsonl_huge_int": (
            "jsonl_huge_int/dynamics_epoch_0.jsonl: line 1 is not valid JSON (an integer of 400 "
            "digits; at most 40 are accepted)"
        ),
        "jsonl_deep": (
            "jsonl_deep/dynamics_epoch_0.jsonl: line 1 is not valid JSON (nested too deeply)"
        ),
        "jsonl_guid_overflow": (
            "jsonl_guid_overflow/dynamics_epoch_0.jsonl: record 1 has a guid outside the 64-bit "
            "integer range"
        ),
        "pt_stride_zero": (
            "pt_stride_zero/epoch_1.pt: tensor 'logits' of shape (4, 3) declares 48 bytes but its "
            "storage holds 12 (an expanded or stride-0 view); save a contiguous tensor "
            "(.contiguous()) instead"
        ),
        "safetensors_truncated": (
            "safetensors_truncated/epoch_1.safetensors: is truncated: tensor 'logits' ends at "
            "byte 80 of the data, the file holds 60"
        ),
        "safetensors_huge_header": (
            "safetensors_huge_header/epoch_1.safetensors: is not a valid safetensors file (its "
            "header declares 1099511627776 bytes, over 100000000)"
        ),
        "safetensors_offsets_mismatch": (
            "safetensors_offsets_mismatch/epoch_1.safetensors: is not a valid safetensors file "
            "(tensor 'logits' of shape (4, 4) and dtype F32 needs 64 bytes but its data_offsets "
            "span 48)"
        ),
        "safetensors_oversized": (
            "safetensors_oversized/epoch_1.safetensors: tensor 'logits' declares 4000000000000 "
            "bytes of data, over the limit of 17179869184 bytes (set PREDAUDIT_MAX_BYTES to "
            "raise it)"
        ),
        "parquet_truncated": (
            "parquet_truncated/epoch_1.parquet: is not a valid Parquet file (Parquet magic bytes "
            "not found in footer)"
        ),
        "feather_truncated": (
            "feather_truncated/epoch_1.feather: is truncated: an Arrow file without the footer "
            "it ends with"
        ),
        "table_dev_zero_link": (
            "table_dev_zero_link/epoch_1.csv: is not a regular file (a character device); refused"
        ),
    }
)


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``root`` with its size and modification time."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture
def in_bad(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run from ``tests/assets/bad``; afterwards nothing there may have changed."""
    before = _tree(BAD)
    monkeypatch.chdir(BAD)
    yield BAD
    marker_made = (BAD / MARKER).exists()
    if marker_made:  # never leave it behind, but fail loudly
        (BAD / MARKER).rmdir()
    assert not marker_made, "an armed pickle was unpickled"
    assert _tree(BAD) == before


def test_every_asset_has_an_expected_line() -> None:
    cases = {p.name for p in BAD.iterdir() if p.is_dir()}
    assert cases == set(EXPECTED) - {"does_not_exist"}
    assert not (BAD / "does_not_exist").exists()


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_bad_input_cli(case: str, in_bad: Path) -> None:
    result = CliRunner().invoke(main, ["inspect", case])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stderr == f"Error: {EXPECTED[case]}\n"
    assert result.exit_code == 3
    assert result.stdout == ""


@pytest.mark.parametrize("case", ["nan_scores", "object_npy", "duplicate_epoch"])
def test_bad_input_json_format_prints_nothing_on_stdout(case: str, in_bad: Path) -> None:
    result = CliRunner().invoke(main, ["inspect", case, "--format", "json"])
    assert (result.exit_code, result.stdout) == (3, "")
    assert result.stderr == f"Error: {EXPECTED[case]}\n"


@pytest.mark.parametrize("case", ["object_npy", "pt_object", "nan_scores", "does_not_exist"])
def test_bad_input_subprocess(case: str) -> None:
    before = _tree(BAD)
    proc = subprocess.run(
        [sys.executable, "-m", "predaudit", "inspect", case],
        cwd=BAD,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert not (BAD / MARKER).exists()
    assert proc.stderr == f"Error: {EXPECTED[case]}\n"
    assert (proc.returncode, proc.stdout) == (3, "")
    assert _tree(BAD) == before


def test_debug_shows_a_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "predaudit", "inspect", "nan_scores", "--debug"],
        cwd=BAD,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 3
    assert proc.stderr.startswith("Traceback (most recent call last):")
    lines = proc.stderr.rstrip("\n").splitlines()
    assert lines[-2] == f"predaudit.errors.InputError: {EXPECTED['nan_scores']}"
    assert lines[-1] == f"Error: {EXPECTED['nan_scores']}"


def test_debug_keeps_the_exit_code_cli_runner(in_bad: Path) -> None:
    result = CliRunner().invoke(main, ["inspect", "truncated_npy", "--debug"])
    assert result.exit_code == 3
    assert "Traceback (most recent call last):" in result.stderr
    assert result.stderr.endswith(f"Error: {EXPECTED['truncated_npy']}\n")


@pytest.mark.parametrize("case", ["object_npy", "pt_object"])
def test_armed_assets_are_live(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pickles would run code if loaded unsafely: the refusal above is what stops them."""
    monkeypatch.chdir(tmp_path)
    if case == "object_npy":
        np.load(BAD / case / "logits.npy", allow_pickle=True)
    else:
        torch.load(BAD / case / "epoch_1.pt", weights_only=False)
    assert (tmp_path / MARKER).is_dir()


def test_pt_without_torch_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = tmp_path / "run"
    run.mkdir()
    torch.save({"logits": torch.zeros(3, 2), "labels": torch.tensor([0, 1, 1])}, run / "e_1.pt")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    result = CliRunner().invoke(main, ["inspect", "run/e_1.pt"])
    assert result.exit_code == 3
    assert result.stderr == (
        "Error: run/e_1.pt: is a PyTorch file but PyTorch is not installed; "
        "install the extra: pip install 'predaudit[torch]'\n"
    )


def _inspect_json(run: str) -> dict:
    result = CliRunner().invoke(main, ["inspect", run, "--format", "json"])
    assert (result.exit_code, result.stderr) == (0, ""), result.output
    return json.loads(result.stdout)


def test_negative_inf_is_a_masked_class_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(OK)
    split = _inspect_json("neg_inf_masked")["splits"]["default"]
    assert (split["input_kind"], split["n_samples"], split["n_clipped"]) == ("logits", 4, 0)


def test_labels_changing_without_ids_is_unaligned_not_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(OK)
    split = _inspect_json("unaligned_no_ids")["splits"]["default"]
    assert (split["has_ids"], split["aligned"], split["epochs"]) == (False, False, [1, 2])


def test_library_raises_input_error_with_path_and_problem() -> None:
    from predaudit import load_run

    with pytest.raises(InputError) as info:
        load_run(BAD / "nan_scores")
    assert info.value.path == os.fspath(BAD / "nan_scores" / "epoch_2.npz")
    assert info.value.problem == f"2 logits are NaN at epoch 2 {NOT_FINITE}"
