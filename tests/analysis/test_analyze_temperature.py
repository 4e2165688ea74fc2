"""``analyze`` fits a temperature at its two compared epochs (issue 18, point 4).

References, all independent of predaudit's code: ``T*`` from
``scipy.optimize.minimize_scalar`` (bounded, on log T) on the raw logits; the
losses at it from PyTorch's ``cross_entropy`` on ``logits / T*``; the share as
``predaudit calibration`` reports it; the ECE from torchmetrics'
``multiclass_calibration_error`` and from a plain loop over the ``(lo, hi]`` bins.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import optimize, special

import predaudit
from predaudit.analysis.calibration import calibration_run
from predaudit.analysis.rise_temperature import temperature_comparison
from predaudit.store import temperature as store_temperature
from predaudit.store.temperature import calibrate_epochs

ROOT = Path(__file__).resolve().parents[2]
STACKED = ROOT / "sample_data" / "stacked"
PER_EPOCH = ROOT / "sample_data" / "per_epoch"
LOG_BOUNDS = (math.log(1e-3), math.log(1e3))


@pytest.fixture(scope="module")
def sample():
    return np.load(STACKED / "test_logits.npy"), np.load(STACKED / "test_labels.npy")


@pytest.fixture(scope="module")
def report():
    return predaudit.analyze(predaudit.load_run(STACKED, split="test"))


def scipy_temperature(z: np.ndarray, y: np.ndarray) -> float:
    z = z.astype(np.float64)
    r = np.arange(y.size)

    def nll(u: float) -> float:
        return float(-special.log_softmax(z / math.exp(u), axis=1)[r, y].mean())

    res = optimize.minimize_scalar(
        nll, bounds=LOG_BOUNDS, method="bounded", options={"xatol": 1e-10}
    )
    return math.exp(res.x)


def torch_loss(z: np.ndarray, y: np.ndarray, t: float = 1.0) -> float:
    logits = torch.tensor(z, dtype=torch.float64) / t
    return float(torch.nn.functional.cross_entropy(logits, torch.from_numpy(y)))


def test_the_temperatures_at_7_and_30_are_scipys(report, sample):
    z, y = sample
    c = report.splits["test"].comparison
    assert (c.from_epoch, c.to_epoch) == (7, 30)
    t = c.temperature
    assert t.temperature_from == pytest.approx(scipy_temperature(z[6], y), rel=1e-6)
    assert t.temperature_to == pytest.approx(scipy_temperature(z[29], y), rel=1e-6)
    assert t.fitted_on == "test"


def test_the_share_is_the_calibration_commands_and_torchs(report, sample):
    z, y = sample
    t = report.splits["test"].comparison.temperature
    # PyTorch at the fitted temperatures: ΔL, ΔL_T and ΔG = ΔL - ΔL_T
    la, lb = torch_loss(z[6], y), torch_loss(z[29], y)
    lta, ltb = torch_loss(z[6], y, t.temperature_from), torch_loss(z[29], y, t.temperature_to)
    assert t.loss_at_temperature_from == pytest.approx(lta, rel=1e-9)
    assert t.loss_at_temperature_to == pytest.approx(ltb, rel=1e-9)
    assert t.delta_loss_at_temperature == pytest.approx(ltb - lta, rel=1e-8)
    share = ((lb - la) - (ltb - lta)) / (lb - la)
    assert t.temperature_share == pytest.approx(share, rel=1e-8)
    assert t.temperature_share == pytest.approx(1.2566, abs=1e-4)  # the 126%
    # predaudit calibration over the same run (every epoch fitted): the same number
    cal = calibration_run(predaudit.load_run(STACKED, split="test", calibration=True))
    cc = cal.splits["test"].comparison
    assert (cc.from_epoch, cc.to_epoch) == (7, 30)
    assert t.temperature_share == cc.temperature_share
    assert (t.temperature_from, t.temperature_to) == (cc.temperature_from, cc.temperature_to)
    assert t.delta_calibration_gap == cc.delta_calibration_gap


def _loop_ece(conf: np.ndarray, ok: np.ndarray, n_bins: int = 15) -> float:
    """Bins ``(k/B, (k+1)/B]`` (0 in the first), plain Python sums."""
    rows: list[list[tuple[float, float]]] = [[] for _ in range(n_bins)]
    for x, o in zip(conf.tolist(), ok.tolist(), strict=True):
        b = next(k for k in range(n_bins) if x <= (k + 1) / n_bins or k == n_bins - 1)
        rows[b].append((x, float(o)))
    total = 0.0
    for r in rows:
        if r:
            gap = math.fsum(o for _, o in r) / len(r) - math.fsum(x for x, _ in r) / len(r)
            total += len(r) * abs(gap)
    return total / conf.size


def test_the_ece_metric_is_torchmetrics_at_epoch_30(report, sample):
    from torchmetrics.functional import classification as tmc

    z, y = sample
    metrics = report.metrics()["test"]
    probs64 = torch.softmax(torch.tensor(z[29], dtype=torch.float64), dim=1)
    conf, pred = probs64.max(dim=1)
    conf, ok = conf.numpy(), pred.numpy() == y
    # the store's confidences come from the float32 logits: ~1e-8 from float64 softmax
    assert metrics["ece"] == report.splits["test"].comparison.ece_to
    assert metrics["ece"] == pytest.approx(_loop_ece(conf, ok), rel=1e-6)
    # Where torchmetrics bins as we do (tests/calibration/test_binning.py): no confidence
    # on an interior edge k/15; its float32 confidences of exactly 1.0 get a bin of their
    # own, which changes the ECE only by the rounding of those (here: almost all right).
    frac = conf * 15
    assert not (np.abs(frac - np.round(frac)) < 1e-5)[np.round(frac) < 15].any()
    ref = tmc.multiclass_calibration_error(
        torch.from_numpy(z[29]).softmax(dim=1), torch.from_numpy(y), 10, n_bins=15, norm="l1"
    )
    assert metrics["ece"] == pytest.approx(float(ref), rel=1e-5)
    # epoch 7 has confidences within 1e-5 of an edge (torchmetrics bins them elsewhere)
    c7, p7 = torch.softmax(torch.tensor(z[6], dtype=torch.float64), dim=1).max(dim=1)
    ece7 = _loop_ece(c7.numpy(), p7.numpy() == y)
    assert report.splits["test"].comparison.ece_from == pytest.approx(ece7, rel=1e-6)


def test_metrics_read_back_from_json(report):
    import json

    from predaudit.render.json import to_json
    from predaudit.report.analyze import AnalyzeReport

    doc = json.loads(to_json(report))
    m = report.metrics()["test"]
    assert m["temperature"] == report.splits["test"].comparison.temperature.temperature_to
    assert m["temperature_share"] == pytest.approx(1.2566, abs=1e-4)
    assert AnalyzeReport.metrics_from_dict(doc) == report.metrics()
    # a baseline written before these fields existed: n/a, not an error
    old = json.loads(json.dumps(doc))
    for k in ("ece_from", "ece_to", "temperature"):
        del old["splits"]["test"]["comparison"][k]
    back = AnalyzeReport.metrics_from_dict(old)["test"]
    assert (back["temperature_share"], back["ece"], back["temperature"]) == (None, None, None)


def test_without_temperature_the_fields_are_null():
    rep = predaudit.analyze(predaudit.load_run(STACKED, split="test"), temperature=False)
    c = rep.splits["test"].comparison
    assert c.temperature is None and c.ece_to is not None
    m = rep.metrics()["test"]
    assert m["temperature_share"] is None and m["temperature"] is None
    assert m["ece"] == c.ece_to


def test_from_arrays_fits_on_the_arrays_in_memory(report, sample):
    z, y = sample
    run = predaudit.from_arrays(z, y, split="test")
    t = predaudit.analyze(run).splits["test"].comparison.temperature
    assert t == report.splits["test"].comparison.temperature


def test_statistics_without_a_source_have_no_temperature():
    stats = replace(predaudit.load_run(STACKED, split="test").splits["test"], source=None)
    assert temperature_comparison(stats, start=7, end=30) is None


def test_only_the_two_epochs_are_fitted_and_their_files_read(monkeypatch):
    """Per-epoch files: only epochs 7 and 30 are opened; each is fitted once."""
    import predaudit.io.load as load_module

    stats = predaudit.load_run(PER_EPOCH, split="test").splits["test"]
    opened: list[str] = []
    real_open = load_module.open_container
    monkeypatch.setattr(
        load_module, "open_container", lambda p: opened.append(p.name) or real_open(p)
    )
    fits: list[int] = []
    real_fit = store_temperature.calibrate_epoch
    monkeypatch.setattr(
        store_temperature,
        "calibrate_epoch",
        lambda *a, **k: fits.append(1) or real_fit(*a, **k),
    )
    t = temperature_comparison(stats, start=7, end=30)
    assert set(opened) == {"epoch_0007.npz", "epoch_0030.npz"}
    assert len(fits) == 2
    ref = calibrate_epochs(
        predaudit.load_run(STACKED, split="test").splits["test"].source.layout,
        [7, 30],
        input_kind="logits",
    )
    assert t.temperature_from == pytest.approx(ref[7].temperature, rel=1e-12)
    # rows in canonical (id) order: the same per-sample losses as the stacked arrays
    np.testing.assert_allclose(
        calibrate_epochs(stats.source.layout, [30], input_kind="logits")[30].loss_at_t,
        ref[30].loss_at_t,
        rtol=1e-9,
    )


def test_unaligned_runs_get_the_totals(tmp_path, sample):
    """No ids and labels that change: no cells, the differences of the per-epoch means."""
    z, y = sample
    rng = np.random.default_rng(0)
    order = rng.permutation(y.size)
    np.savez(tmp_path / "epoch_1.npz", logits=z[6], labels=y)
    np.savez(tmp_path / "epoch_2.npz", logits=z[29][order], labels=y[order])
    run = predaudit.load_run(tmp_path)
    split = next(iter(run.splits.values()))
    assert not split.aligned
    c = predaudit.analyze(run, start=1, end=2).splits[split.name].comparison
    assert c.transitions is None
    t = c.temperature
    ta, tb = scipy_temperature(z[6], y), scipy_temperature(z[29], y)
    assert (t.temperature_from, t.temperature_to) == (
        pytest.approx(ta, rel=1e-6),
        pytest.approx(tb, rel=1e-6),
    )
    la, lb = torch_loss(z[6], y), torch_loss(z[29], y)
    lta = torch_loss(z[6], y, t.temperature_from)
    ltb = torch_loss(z[29], y, t.temperature_to)
    assert t.temperature_share == pytest.approx(((lb - ltb) - (la - lta)) / (lb - la), rel=1e-8)
