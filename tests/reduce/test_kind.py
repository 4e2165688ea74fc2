"""Score-kind detection on borderline data (docs/design.md)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from predaudit import load_run
from predaudit.cli import main
from predaudit.errors import InputError

F = torch.nn.functional

Y = np.array([0, 2, 1, 2, 0])


def write_epochs(folder: Path, *epochs: np.ndarray, labels: np.ndarray = Y) -> Path:
    folder.mkdir(exist_ok=True)
    for e, scores in enumerate(epochs, start=1):
        np.savez(folder / f"epoch_{e}.npz", scores=scores, labels=labels)
    return folder


def split(path: Path, **kw):  # type: ignore[no-untyped-def]
    return load_run(path, **kw).splits["default"]


def ce(x: np.ndarray, y: np.ndarray = Y) -> np.ndarray:
    return F.cross_entropy(torch.from_numpy(x), torch.from_numpy(y), reduction="none").numpy()


def test_logits_inside_unit_interval_not_summing_to_one_are_logits(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 1.0, size=(5, 3))  # each row sums to about 1.5
    s = split(write_epochs(tmp_path / "r", x, x[::-1].copy()))
    assert (s.input_kind, s.kind_detected) == ("logits", True)
    np.testing.assert_allclose(s.loss[0], ce(x), rtol=1e-12)


def test_rows_off_by_more_than_1e_3_are_logits(tmp_path: Path) -> None:
    p = np.full((5, 3), 1 / 3)
    p[:, 0] += 2e-3
    assert split(write_epochs(tmp_path / "r", p)).input_kind == "logits"


def test_probabilities_with_exact_zeros_are_probs(tmp_path: Path) -> None:
    p = np.array(
        [[1.0, 0.0, 0.0], [0.0, 0.25, 0.75], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0], [0.2, 0.3, 0.5]]
    )
    s = split(write_epochs(tmp_path / "r", p, p[[1, 0, 2, 3, 4]]))
    assert (s.input_kind, s.kind_detected) == ("probs", True)
    # Exact losses (issue 11, point 7): this used to pin -log(clip(p[y], 1e-7, 1 - 1e-7));
    # now p[y] = 1 costs exactly 0, and p[y] = 0 (rows 0 and 1 of epoch 2) is floored at
    # float64's smallest normal number, -log(2.2e-308) = 708.4 nats, counted in n_floored.
    floor = -np.log(np.finfo(np.float64).tiny)
    for e, rows in enumerate([p, p[[1, 0, 2, 3, 4]]]):
        py = rows[np.arange(5), Y]
        with np.errstate(divide="ignore"):
            expected = np.where(py == 0, floor, -np.log(py)) + 0.0
        np.testing.assert_allclose(s.loss[e], expected, rtol=1e-12, atol=0)
    assert (s.n_floored, s.n_clipped, s.clip) == (2, 0, None)


def test_float16_probabilities_within_tolerance_are_probs(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(7), size=5).astype(np.float16)  # rows sum to 1 +- ~1e-3
    labels = np.array([0, 6, 1, 2, 3])
    assert split(write_epochs(tmp_path / "r", p, labels=labels)).input_kind == "probs"


def test_log_probs_with_minus_inf_are_log_probs(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(5, 3))
    logits[0, 2] = logits[3, 1] = -np.inf  # masked classes
    lp = torch.log_softmax(torch.from_numpy(logits), dim=1).numpy()
    assert np.isneginf(lp).sum() == 2
    s = split(write_epochs(tmp_path / "r", lp, lp))
    assert (s.input_kind, s.kind_detected) == ("log_probs", True)
    np.testing.assert_allclose(s.loss[0], -lp[np.arange(5), Y], rtol=1e-12)


def test_binary_scores_all_in_unit_interval_are_probs(tmp_path: Path) -> None:
    p = np.array([0.9, 0.2, 0.6, 0.0, 1.0])
    yb = np.array([1, 0, 0, 0, 1])
    s = split(write_epochs(tmp_path / "r", p, p / 2, labels=yb))
    assert (s.input_kind, s.binary, s.n_classes) == ("probs", True, 2)
    # Exact losses (issue 11, point 7): this used to pin the 1e-7 clip; p(y) = 1 now costs
    # exactly 0 and p(y) = 0 would be floored at float64's smallest normal number.
    expected = -np.log(np.where(yb == 1, p, 1 - p)) + 0.0
    np.testing.assert_allclose(s.loss[0], expected, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(s.pred[0], (p > 0.5).astype(int))


def test_binary_one_epoch_outside_unit_interval_makes_every_epoch_logits(tmp_path: Path) -> None:
    inside = np.array([0.9, 0.2, 0.6, 0.1, 0.7])
    outside = np.array([2.5, -1.0, 0.3, -0.2, 0.8])
    yb = np.array([1, 0, 0, 0, 1])
    s = split(write_epochs(tmp_path / "r", inside, outside, labels=yb))
    assert s.input_kind == "logits"
    # epoch 1 is reduced as logits too: sigmoid(0.6) > 0.5, so every sample predicts 1
    bce = F.binary_cross_entropy_with_logits(
        torch.from_numpy(inside), torch.from_numpy(yb.astype(np.float64)), reduction="none"
    ).numpy()
    np.testing.assert_allclose(s.loss[0], bce, rtol=1e-12)
    np.testing.assert_array_equal(s.pred[0], [1, 1, 1, 1, 1])


def test_later_epoch_contradicting_the_first_is_an_input_error(tmp_path: Path) -> None:
    p = np.full((5, 3), 1 / 3)
    run = write_epochs(tmp_path / "r", p, p, np.log(p) + 5.0)
    with pytest.raises(InputError) as info:
        load_run(run)
    assert info.value.path == f"{run / 'epoch_1.npz'}, {run / 'epoch_3.npz'}"
    assert info.value.problem == (
        "scores look like logits at epoch 3 but like probs at epoch 1; "
        "pass --input-kind to say which"
    )
    # saying which resolves it
    s = split(run, input_kind="logits")
    assert (s.input_kind, s.kind_detected) == ("logits", False)


def test_input_kind_overrides_detection(tmp_path: Path) -> None:
    p = np.array([[0.5, 0.25, 0.25]] * 5)
    run = write_epochs(tmp_path / "r", p)
    assert split(run).input_kind == "probs"
    s = split(run, input_kind="logits")
    assert (s.input_kind, s.kind_detected) == ("logits", False)
    np.testing.assert_allclose(s.loss[0], ce(p), rtol=1e-12)


def test_input_kind_on_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = np.array([[0.5, 0.25, 0.25]] * 5)
    write_epochs(tmp_path / "r", p)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    detected = runner.invoke(main, ["inspect", "r", "--format", "json"])
    given = runner.invoke(main, ["inspect", "r", "--format", "json", "--input-kind", "logits"])
    assert (detected.exit_code, given.exit_code) == (0, 0)
    d = json.loads(detected.stdout)["splits"]["default"]
    g = json.loads(given.stdout)["splits"]["default"]
    assert (d["input_kind"], d["kind_detected"]) == ("probs", True)
    assert (g["input_kind"], g["kind_detected"]) == ("logits", False)
    # A given kind is checked against the data (issue 11, point 7): this test used to force
    # log_probs on these probabilities and get negative losses; now it is an input error.
    wrong = runner.invoke(main, ["inspect", "r", "--input-kind", "log_probs"])
    assert wrong.exit_code == 3
    assert wrong.stderr == (
        f"Error: {Path('r') / 'epoch_1.npz'}: 15 log-probabilities are above 0 (by more than "
        "1e-6) and 5 rows do not have a log-sum-exp of 0 (within 1e-3) at epoch 1 "
        "(--input-kind log_probs)\n"
    )
    bad = runner.invoke(main, ["inspect", "r", "--input-kind", "logprobs"])
    assert bad.exit_code == 2  # a bad option value is a usage error


def test_contradiction_message_on_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = np.full((5, 3), 1 / 3)
    write_epochs(tmp_path / "r", np.log(p), p)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["inspect", "r"])
    assert result.exit_code == 3
    assert result.stderr == (
        "Error: r/epoch_1.npz, r/epoch_2.npz: scores look like probs at epoch 2 but like "
        "log_probs at epoch 1; pass --input-kind to say which\n"
    )
