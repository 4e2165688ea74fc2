"""``predaudit calibration`` on the sample run, against independent references.

ECE/MCE/RMSCE: torchmetrics ``multiclass_calibration_error`` at the epochs where its
binning agrees with ours (no float32 confidence at 1.0 or within 1e-6 of an edge k/15,
see tests/calibration/test_binning.py); T*: scipy ``minimize_scalar`` on log T;
Brier and NLL: scikit-learn on softmax computed by torch; the split: hand sums.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import predaudit
from predaudit.analysis.calibration import calibration_run

torch = pytest.importorskip("torch")
tmc = pytest.importorskip("torchmetrics.functional.classification")
scipy_optimize = pytest.importorskip("scipy.optimize")
sk = pytest.importorskip("sklearn.metrics")

STACKED = Path(__file__).resolve().parents[2] / "sample_data" / "stacked"
LOGITS = np.load(STACKED / "test_logits.npy")
LABELS = np.load(STACKED / "test_labels.npy")
if LABELS.ndim == 1:
    LABELS = np.broadcast_to(LABELS, LOGITS.shape[:2])


@pytest.fixture(scope="module")
def report():
    run = predaudit.load_run(STACKED, split="test", calibration=True)
    return calibration_run(run).splits["test"]


def _probs(k: int) -> torch.Tensor:
    return torch.softmax(torch.from_numpy(LOGITS[k].astype(np.float64)), dim=1)


def _scipy_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    z = torch.from_numpy(logits.astype(np.float64))
    yt = torch.from_numpy(y.astype(np.int64))

    def nll(log_t: float) -> float:
        return float(torch.nn.functional.cross_entropy(z / np.exp(log_t), yt))

    res = scipy_optimize.minimize_scalar(nll, bounds=(-5, 5), method="bounded",
                                         options={"xatol": 1e-12})  # fmt: skip
    return float(np.exp(res.x))


def test_ece_mce_rmsce_match_torchmetrics_where_its_binning_agrees(report):
    edges = np.arange(1, 15) / 15
    checked = 0
    for k, row in enumerate(report.per_epoch):
        p32 = torch.softmax(torch.from_numpy(LOGITS[k]).float(), dim=1)
        conf = p32.max(dim=1).values.numpy().astype(np.float64)
        if (conf >= 1.0).any() or (np.abs(conf[:, None] - edges) < 1e-6).any():
            continue
        checked += 1
        for norm, value in (("l1", row.ece), ("max", row.mce), ("l2", row.rmsce)):
            ref = tmc.multiclass_calibration_error(
                p32, torch.from_numpy(LABELS[k].astype(np.int64)), num_classes=LOGITS.shape[2],
                n_bins=15, norm=norm,
            )  # fmt: skip
            assert float(ref) == pytest.approx(value, rel=1e-5, abs=1e-6), (row.epoch, norm)
    assert checked >= 3


@pytest.mark.parametrize("epoch", [1, 7, 30])
def test_temperature_is_the_scipy_minimiser(report, epoch):
    k = epoch - 1
    ref = _scipy_temperature(LOGITS[k], LABELS[k])
    assert report.row(epoch).temperature == pytest.approx(ref, rel=1e-6)
    z = torch.from_numpy(LOGITS[k].astype(np.float64)) / ref
    lt = float(torch.nn.functional.cross_entropy(z, torch.from_numpy(LABELS[k].astype(np.int64))))
    assert report.row(epoch).loss_at_temperature == pytest.approx(lt, rel=1e-9)


@pytest.mark.parametrize("epoch", [1, 7, 30])
def test_brier_and_nll_match_sklearn(report, epoch):
    k = epoch - 1
    p = _probs(k).numpy()
    c = LOGITS.shape[2]
    yt = torch.from_numpy(LABELS[k].astype(np.int64))
    z = torch.from_numpy(LOGITS[k].astype(np.float64))
    assert report.row(epoch).nll == pytest.approx(
        float(torch.nn.functional.cross_entropy(z, yt)), rel=1e-7
    )  # float32 logits: the reduction's float32 steps differ from torch's float64 ~1e-9
    if p[np.arange(len(p)), LABELS[k]].min() > 1e-15:  # sklearn clips p at float64 eps
        assert report.row(epoch).nll == pytest.approx(
            sk.log_loss(LABELS[k], p, labels=list(range(c))), rel=1e-7
        )
    onehot = np.eye(c)[LABELS[k]]
    brier = np.mean(np.sum((p - onehot) ** 2, axis=1))  # multiclass Brier, by hand
    assert report.row(epoch).brier == pytest.approx(brier, rel=1e-7)


def test_binary_brier_is_twice_sklearn_and_positive_class_ece_by_hand():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    z = (rng.normal(size=(3, 400)) + (2 * y - 1)) * np.array([[1.0], [2.0], [3.0]])
    run = predaudit.from_arrays(z, y, calibration=True)
    s = calibration_run(run, n_bins=10).splits["default"]
    for k, row in enumerate(s.per_epoch):
        p1 = 1 / (1 + np.exp(-z[k]))
        assert row.brier == pytest.approx(2 * sk.brier_score_loss(y, p1), rel=1e-9)
        assert row.nll == pytest.approx(sk.log_loss(y, p1), rel=1e-9)
        b = np.clip(np.ceil(p1 * 10) - 1, 0, 9).astype(int)  # (lo, hi] bins of width 0.1
        ece = sum(abs(np.mean(y[b == i]) - np.mean(p1[b == i])) * np.mean(b == i)
                  for i in range(10) if (b == i).any())  # fmt: skip
        assert row.positive_class_ece == pytest.approx(ece, rel=1e-9, abs=1e-12)


def test_split_identity_and_cells_sum_to_totals(report):
    c = report.comparison
    assert (c.from_epoch, c.to_epoch, c.from_reason) == (7, 30, "best_loss")
    a, b = report.row(7), report.row(30)
    assert c.delta_loss == pytest.approx(b.nll - a.nll, abs=1e-12)
    assert c.delta_loss_at_temperature == pytest.approx(
        b.loss_at_temperature - a.loss_at_temperature, abs=1e-12
    )
    assert c.delta_loss == pytest.approx(c.delta_loss_at_temperature + c.delta_calibration_gap,
                                         abs=1e-12)  # fmt: skip
    for field in ("delta_loss", "delta_loss_at_temperature", "delta_calibration_gap"):
        assert sum(getattr(x, field) for x in c.cells.values()) == pytest.approx(
            getattr(c, field), abs=1e-12
        )
    assert sum(x.n for x in c.cells.values()) == 450
    assert c.temperature_share == pytest.approx(c.delta_calibration_gap / c.delta_loss)
    # by hand from the logits: loss at epoch 7/30 and at each fitted temperature
    yt = torch.from_numpy(LABELS[6].astype(np.int64))
    ce = torch.nn.functional.cross_entropy
    l7 = float(ce(torch.from_numpy(LOGITS[6].astype(np.float64)), yt))
    l30 = float(ce(torch.from_numpy(LOGITS[29].astype(np.float64)), yt))
    assert c.delta_loss == pytest.approx(l30 - l7, rel=1e-9)


def test_unaligned_run_has_no_cells():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(2, 50, 3)) * np.array([1.0, 3.0])[:, None, None]
    labels = [rng.integers(0, 3, 50), rng.integers(0, 3, 50)]
    run = predaudit.from_arrays([z[0], z[1]], labels, calibration=True)
    c = calibration_run(run).splits["default"].comparison
    assert c.cells is None and "not the same samples" in c.cells_reason


def test_without_temperatures_the_error_says_how_to_load():
    run = predaudit.from_arrays(LOGITS[:2], LABELS[0])
    with pytest.raises(ValueError, match="calibration=True"):
        calibration_run(run)
