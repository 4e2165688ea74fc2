"""A score key that names the kind (``probs``, ``probabilities``, ``log_probs``) is a claim
the values must bear out: otherwise the split is refused (reading them as another kind
would be a guess), unless ``--input-kind`` says what they are. ``logits`` names nothing:
softmax outputs saved under it are read as the probabilities they are."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from predaudit.cli import main
from predaudit.errors import InputError
from predaudit.io.discover import discover
from predaudit.store.build import compute_split

E, N, C = 3, 50, 4


def _layout(folder):
    (split,) = discover(folder).splits.values()
    return split


def _run(tmp_path, name: str, scores: np.ndarray, labels: np.ndarray):
    np.save(tmp_path / name, scores)
    np.save(tmp_path / "labels.npy", labels)
    return _layout(tmp_path)


def _softmax(z: np.ndarray) -> np.ndarray:
    return torch.softmax(torch.from_numpy(z), dim=-1).numpy()


@pytest.fixture
def logits_and_labels():
    rng = np.random.default_rng(4)
    return rng.normal(size=(E, N, C)) * 2, rng.integers(0, C, N)


@pytest.mark.parametrize("name", ["probs.npy", "val_probabilities.npy"])
def test_logits_under_a_probs_key_are_refused(tmp_path, logits_and_labels, name):
    z, y = logits_and_labels
    with pytest.raises(InputError) as info:
        compute_split(_run(tmp_path, name, z, y))
    assert info.value.path == str(tmp_path / name)
    key = name.removesuffix(".npy").removeprefix("val_")
    assert info.value.problem.startswith(
        f"the scores are named '{key}' but are not probabilities at epoch 1: values lie "
        "outside [0, 1]"
    )


def test_the_given_kind_reads_them_and_the_losses_are_torchs(tmp_path, logits_and_labels):
    z, y = logits_and_labels
    st = compute_split(_run(tmp_path, "probs.npy", z, y), input_kind="logits")
    assert st.input_kind == "logits" and not st.kind_detected
    for e in range(E):
        ref = torch.nn.functional.cross_entropy(
            torch.from_numpy(z[e]), torch.from_numpy(y), reduction="none"
        ).numpy()
        np.testing.assert_allclose(st.loss[e], ref, rtol=1e-12)


def test_probabilities_under_a_probs_key_are_detected_as_before(tmp_path, logits_and_labels):
    z, y = logits_and_labels
    p = _softmax(z)
    st = compute_split(_run(tmp_path, "probs.npy", p, y))
    assert st.input_kind == "probs" and st.kind_detected
    ref = -np.log(p[1][np.arange(N), y])  # -log p_y, exact for probabilities
    np.testing.assert_allclose(st.loss[1], ref, rtol=1e-12)


def test_softmax_under_a_logits_key_is_still_read_as_probabilities(tmp_path, logits_and_labels):
    z, y = logits_and_labels
    st = compute_split(_run(tmp_path, "logits.npy", _softmax(z), y))
    assert st.input_kind == "probs" and st.kind_detected


def test_log_probs_key_rows_must_have_log_sum_exp_zero(tmp_path, logits_and_labels):
    z, y = logits_and_labels
    lp = torch.log_softmax(torch.from_numpy(z), dim=-1).numpy()
    st = compute_split(_run(tmp_path, "log_probs.npy", lp, y))
    assert st.input_kind == "log_probs"
    ref = torch.nn.functional.nll_loss(
        torch.from_numpy(lp[2]), torch.from_numpy(y), reduction="none"
    )
    np.testing.assert_allclose(st.loss[2], ref.numpy(), rtol=1e-12)
    bad = lp.copy()
    bad[2] -= 0.25  # every value <= 0, every row's log-sum-exp -0.25: not log-probabilities
    with pytest.raises(InputError) as info:
        compute_split(_run(tmp_path, "log_probs.npy", bad, y))
    assert info.value.problem.startswith(
        "the scores are named 'log_probs' but are not log-probabilities at epoch 3: rows have "
        "a log-sum-exp as far as 0.25 from 0 (more than 1e-3)"
    )


def test_one_log_probability_per_sample_needs_the_kind_given(tmp_path):
    rng = np.random.default_rng(7)
    p1 = rng.uniform(0.05, 0.95, (E, N))
    y = rng.integers(0, 2, N)
    layout = _run(tmp_path, "log_probs.npy", np.log(p1), y)
    claim = "named 'log_probs' but are not log-probabilities at epoch 1: one score per sample"
    with pytest.raises(InputError, match=claim + " is read as a probability or a logit"):
        compute_split(layout)
    st = compute_split(layout, input_kind="log_probs")
    ref = torch.nn.functional.binary_cross_entropy(
        torch.from_numpy(p1[0]), torch.from_numpy(y).double(), reduction="none"
    ).numpy()
    np.testing.assert_allclose(st.loss[0], ref, rtol=1e-9)


def test_the_cli_refuses_with_one_line_and_exit_3(tmp_path, logits_and_labels):
    z, y = logits_and_labels
    _run(tmp_path, "probs.npy", z, y)
    res = CliRunner().invoke(main, ["analyze", str(tmp_path), "--no-cache", "--format", "json"])
    assert res.exit_code == 3 and res.stdout == ""
    assert res.stderr.count("\n") == 1 and "named 'probs'" in res.stderr
    ok = CliRunner().invoke(
        main, ["analyze", str(tmp_path), "--no-cache", "--format", "json", "--input-kind", "logits"]
    )
    assert ok.exit_code == 0, ok.output
    (split,) = json.loads(ok.stdout)["splits"].values()
    assert (split["input_kind"], split["kind_detected"]) == ("logits", False)
