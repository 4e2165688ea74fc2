"""``predaudit analyze``: the temperature line, ``--check`` on its metrics, the cache and
``--no-temperature`` (issue 18, point 4)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from predaudit.cli import main
from predaudit.store import temperature as store_temperature

ROOT = Path(__file__).resolve().parents[2]
STACKED = str(ROOT / "sample_data" / "stacked")
SCHEMA = json.loads((ROOT / "docs" / "schema" / "analyze.schema.json").read_text("utf-8"))
LINE = "A single temperature would undo 126% of the rise (T* 1.26 → 3.27)."


def run_cli(*args: str):
    return CliRunner().invoke(main, list(args), env={"COLUMNS": "80", "NO_COLOR": "1"})


def test_the_verdict_panel_and_markdown_have_the_temperature_line():
    res = run_cli("analyze", STACKED, "--split", "test")
    assert res.exit_code == 0, res.output
    assert LINE in res.stdout
    md = run_cli("analyze", STACKED, "--split", "test", "--format", "markdown")
    assert f"\n{LINE}\n" in md.stdout
    train = run_cli("analyze", STACKED, "--split", "train").stdout
    # the last train epoch's fit ran to the lower bound: shown as "≤", not as a fitted value
    assert "No rise for a single temperature to undo (T* 0.67 → ≤0.001)." in train


def test_a_fit_at_a_bound_is_named_in_the_json_and_the_tables():
    """The train split's last epoch is all right with wide margins: torch's cross-entropy of
    the logits divided by T falls as T falls and reaches 0 (float64) at the bound 0.001, so
    T* is the bound (``lower_bound``), not a fitted value; the first epoch's is interior."""
    import numpy as np
    import torch

    z = torch.from_numpy(np.load(Path(STACKED) / "train_logits.npy")[-1]).double()
    y = torch.from_numpy(np.load(Path(STACKED) / "train_labels.npy")).long()
    ce = [float(torch.nn.functional.cross_entropy(z / t, y)) for t in (1.0, 0.7, 0.5, 0.001)]
    assert ce[0] > ce[1] > ce[2] > ce[3] == 0.0
    res = run_cli("analyze", STACKED, "--split", "train", "--format", "json")
    t = json.loads(res.stdout)["splits"]["train"]["comparison"]["temperature"]
    assert (t["temperature_status_from"], t["temperature_status_to"]) == (
        "converged",
        "lower_bound",
    )
    assert t["temperature_to"] == 0.001
    cal = run_cli("calibration", STACKED, "--split", "train").stdout
    assert "≤0.001" in cal and "0.67" in cal
    assert "T* ≥/≤: the end of the fit's range; the loss keeps falling beyond it." in cal
    md = run_cli("calibration", STACKED, "--split", "train", "--format", "markdown").stdout
    assert "| ≤0.001 |" in md
    # a split with every fit interior has no note
    test = run_cli("calibration", STACKED, "--split", "test").stdout
    assert "≥" not in test and "≤" not in test and "the end of the fit's range" not in test


def test_check_temperature_share_fails_on_the_sample_run():
    res = run_cli("analyze", STACKED, "--check", "test:temperature_share < 0.5")
    assert res.exit_code == 1, res.output
    ok = run_cli(
        "analyze",
        STACKED,
        "--check",
        "test:temperature_share > 1.2",
        "--check",
        "test:temperature > 3",
        "--check",
        "test:ece < 0.05",
        "--format",
        "json",
    )
    assert ok.exit_code == 0, ok.output
    doc = json.loads(ok.stdout)
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    values = {c["metric"]: c["value"] for c in doc["checks"]}
    comp = doc["splits"]["test"]["comparison"]
    assert values["temperature_share"] == comp["temperature"]["temperature_share"]
    assert values["temperature"] == comp["temperature"]["temperature_to"]
    assert values["ece"] == comp["ece_to"]


def test_no_temperature_nulls_the_fields_and_the_checks_are_na():
    res = run_cli("analyze", STACKED, "--no-temperature", "--format", "json", "--no-cache")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    for split in doc["splits"].values():
        assert split["comparison"]["temperature"] is None
        assert split["comparison"]["ece_to"] is not None
    table = run_cli("analyze", STACKED, "--no-temperature", "--split", "test")
    assert "single temperature" not in table.stdout
    na = run_cli("analyze", STACKED, "--no-temperature", "--check", "test:temperature_share < 9")
    assert na.exit_code == 1  # n/a compares like NaN


def test_the_cached_rerun_does_not_refit(monkeypatch):
    calls: list[int] = []
    real = store_temperature.calibrate_epoch

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(store_temperature, "calibrate_epoch", counting)
    first = run_cli("analyze", STACKED, "--format", "json")
    assert first.exit_code == 0, first.output
    assert len(calls) == 4  # two splits, two epochs each
    again = run_cli("analyze", STACKED, "--format", "json")
    assert len(calls) == 4
    assert again.stdout == first.stdout
    # another pair of epochs adds to the entry: only the new epoch is fitted
    run_cli("analyze", STACKED, "--split", "test", "--from", "7", "--to", "20")
    assert len(calls) == 5
    run_cli("analyze", STACKED, "--no-cache", "--split", "test")
    assert len(calls) == 7  # --no-cache fits again


def test_a_changed_file_is_fitted_again(tmp_path, monkeypatch):
    import numpy as np

    z = np.load(Path(STACKED) / "test_logits.npy")[:5]
    y = np.load(Path(STACKED) / "test_labels.npy")
    np.save(tmp_path / "logits.npy", z)
    np.save(tmp_path / "labels.npy", y)
    calls: list[int] = []
    real = store_temperature.calibrate_epoch
    monkeypatch.setattr(
        store_temperature, "calibrate_epoch", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    first = json.loads(run_cli("analyze", str(tmp_path), "--format", "json").stdout)
    assert len(calls) == 2
    np.save(tmp_path / "logits.npy", z * 2.0)  # sharper: T* doubles
    second = json.loads(run_cli("analyze", str(tmp_path), "--format", "json").stdout)
    assert len(calls) == 4
    t1 = first["splits"]["default"]["comparison"]["temperature"]["temperature_to"]
    t2 = second["splits"]["default"]["comparison"]["temperature"]["temperature_to"]
    assert abs(t2 / t1 - 2.0) < 1e-6


def test_a_corrupt_temperature_entry_is_fitted_again(monkeypatch):
    import predaudit
    from predaudit.store import cache

    first = run_cli("analyze", STACKED, "--split", "test", "--format", "json")
    layout = predaudit.load_run(STACKED, split="test").splits["test"].source.layout
    entry = cache.entry_path(layout, "logits", options=store_temperature._options(layout))
    assert entry.is_file()
    entry.write_bytes(b"not an npz")
    calls: list[int] = []
    real = store_temperature.calibrate_epoch
    monkeypatch.setattr(
        store_temperature, "calibrate_epoch", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    again = run_cli("analyze", STACKED, "--split", "test", "--format", "json")
    assert len(calls) == 2
    assert again.stdout == first.stdout
    assert entry.is_file()  # written again


def test_a_negative_share_reads_as_none_of_the_rise(tmp_path):
    """A logistic model trained by SGD on scikit-learn's breast-cancer data: from epoch 7 to
    25 the loss rises, and more so at each epoch's best temperature (scipy's bounded fit of
    torch's BCE-with-logits of z / T), so the temperature share is negative. The line says
    the temperature undoes none of the rise, keeping the share, rather than "undo −22%"."""
    import numpy as np
    import torch
    from scipy.optimize import minimize_scalar
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import SGDClassifier
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = load_breast_cancer(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(
        StandardScaler().fit_transform(x), y, test_size=0.4, random_state=0
    )
    clf = SGDClassifier(loss="log_loss", learning_rate="constant", eta0=0.05, random_state=0)
    z = []
    for _ in range(25):
        clf.partial_fit(xtr, ytr, classes=[0, 1])
        z.append(clf.decision_function(xte))
    z = np.asarray(z, dtype=np.float32)
    (tmp_path / "run").mkdir()
    np.save(tmp_path / "run" / "logits.npy", z)
    np.save(tmp_path / "run" / "labels.npy", yte)

    target = torch.tensor(yte, dtype=torch.float64)
    bce = torch.nn.functional.binary_cross_entropy_with_logits

    def loss(e: int, t: float = 1.0) -> float:
        return float(bce(torch.tensor(z[e - 1], dtype=torch.float64) / t, target))

    fits = {}
    for e in (7, 25):
        res = minimize_scalar(
            lambda lt, e=e: loss(e, float(np.exp(lt))), bounds=(-3, 3), method="bounded",
            options={"xatol": 1e-10},
        )  # fmt: skip
        fits[e] = float(np.exp(res.x))
    d_loss = loss(25) - loss(7)
    d_at_t = loss(25, fits[25]) - loss(7, fits[7])
    assert 0 < d_loss < d_at_t  # the rise is larger at the fitted temperatures
    share = (d_loss - d_at_t) / d_loss
    out = json.loads(
        run_cli(
            "analyze", str(tmp_path / "run"), "--from", "7", "--to", "25", "--format", "json"
        ).stdout
    )
    t = out["splits"]["default"]["comparison"]["temperature"]
    assert t["temperature_share"] == pytest.approx(share, rel=1e-4)
    text = " ".join(
        run_cli("analyze", str(tmp_path / "run"), "--from", "7", "--to", "25").stdout.split()
    )
    pct = f"{100 * share:.0f}%".replace("-", "−")
    temps = f"T* {fits[7]:.2f} → {fits[25]:.2f}"
    assert (
        f"A single temperature would undo none of the rise ({pct}: it is larger at the "
        f"fitted temperatures, {temps})." in text.replace("│ ", "").replace(" │", "")
    )
