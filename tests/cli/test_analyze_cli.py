"""`predaudit analyze` end to end on the real sample run and on edge cases."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from golden.cases import CASES
from scipy.stats import wilcoxon
from sklearn.metrics import log_loss

from predaudit.cli import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data"
GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def run_cli(*args: str):
    return CliRunner().invoke(main, list(args), env={"COLUMNS": "80", "NO_COLOR": "1"})


def ce(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-sample cross-entropy [E, N] from PyTorch, in float64."""
    t = torch.tensor(logits, dtype=torch.float64)
    e, n, c = t.shape
    return (
        torch.nn.functional.cross_entropy(
            t.reshape(-1, c), torch.tensor(np.tile(y, e)), reduction="none"
        )
        .numpy()
        .reshape(e, n)
    )


@pytest.fixture(scope="module")
def sample_test():
    logits = np.load(SAMPLE / "stacked" / "test_logits.npy")
    y = np.load(SAMPLE / "stacked" / "test_labels.npy")
    return logits, y


def test_sample_verdict_computed_independently(sample_test):
    logits, y = sample_test
    losses = ce(logits, y)
    mean = losses.mean(axis=1)
    to = len(mean)
    best = int(np.argmin(mean)) + 1
    correct = logits.argmax(-1) == y
    ww = ~correct[best - 1] & ~correct[to - 1]
    d = losses[to - 1] - losses[best - 1]
    delta = mean[to - 1] - mean[best - 1]
    share = d[ww].sum() / len(y) / delta
    p = wilcoxon(d[ww], alternative="greater").pvalue
    expected = "supported" if delta > 0 and share >= 0.5 and p < 0.05 else "rejected"

    res = run_cli("analyze", str(SAMPLE / "stacked"), "--split", "test", "--format", "json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    split = out["splits"]["test"]
    comp, hyp = split["comparison"], split["hypothesis"]
    assert (comp["from"], comp["to"], comp["from_reason"]) == (best, to, "best_loss")
    assert comp["delta_loss"] == pytest.approx(delta, rel=1e-6)
    assert comp["transitions"]["wrong_to_wrong"]["n"] == ww.sum()
    assert hyp["share"] == pytest.approx(share, rel=1e-6)
    assert hyp["p_value"] == pytest.approx(p, rel=1e-6)
    assert hyp["verdict"] == expected == "supported"
    # the per-epoch losses against scikit-learn's log_loss (no clipping hits at epoch 1-10)
    probs = torch.softmax(torch.tensor(logits, dtype=torch.float64), -1).numpy()
    for e in range(10):
        assert split["per_epoch"][e]["loss"] == pytest.approx(
            log_loss(y, probs[e], labels=range(10)), rel=1e-6
        )
        assert split["per_epoch"][e]["accuracy"] == correct[e].mean()


def test_json_schema_exact_keys():
    res = run_cli("analyze", str(SAMPLE / "stacked"), "--format", "json")
    out = json.loads(res.stdout)
    assert out["schema"] == "predaudit.analyze/1"
    assert set(out["splits"]) == {"test", "train"}
    split = out["splits"]["test"]
    required = {
        "n_samples",
        "n_classes",
        "input_kind",
        "n_clipped",
        "aligned",
        "epochs",
        "per_epoch",
        "comparison",
        "hypothesis",
    }
    # n_floored and clip: exact losses (issue 11, point 7); epoch_unit, sample_unit: issue 11
    added = {"kind_detected", "n_ignored", "has_ids", "note", "n_floored", "clip"}
    added |= {"epoch_unit", "sample_unit"}
    assert set(split) == required | added
    assert (split["n_samples"], split["n_classes"], split["input_kind"]) == (450, 10, "logits")
    assert set(split["per_epoch"][0]) == {"n_samples"} | {
        "epoch",
        "loss",
        "accuracy",
        "n_correct",
        "loss_correct",
        "loss_wrong",
        "contribution_correct",
        "contribution_wrong",
    }
    comp = split["comparison"]
    # ece_from, ece_to, temperature: calibration at the compared epochs (issue 18, point 4)
    # wrong_to_wrong_regions(_reason): the wrong → wrong samples on the data map (issue 12)
    assert set(comp) == {"transitions_reason", "ece_from", "ece_to", "temperature"} | {
        "wrong_to_wrong_regions",
        "wrong_to_wrong_regions_reason",
    } | {
        "from",
        "to",
        "from_reason",
        "delta_loss",
        "delta_accuracy",
        "transitions",
        "shift_share",
    }
    # temperature_status_from/_to: how each fit ended ("upper_bound": T* is the range's end)
    assert set(comp["temperature"]) == {"temperature_status_from", "temperature_status_to"} | {
        "temperature_from",
        "temperature_to",
        "loss_at_temperature_from",
        "loss_at_temperature_to",
        "delta_loss_at_temperature",
        "delta_calibration_gap",
        "temperature_share",
        "fitted_on",
    }
    assert set(comp["transitions"]) == {
        "correct_to_correct",
        "correct_to_wrong",
        "wrong_to_correct",
        "wrong_to_wrong",
    }
    assert set(comp["transitions"]["wrong_to_wrong"]) == {"n", "contribution", "mean_delta"}
    assert set(comp["shift_share"]) == {"composition", "correct_severity", "wrong_severity"}
    assert set(split["hypothesis"]) == {"reason", "alpha"} | {
        "id",
        "verdict",
        "share",
        "p_value",
        "ci95",
        "driver",
        "statement",
    }
    assert split["hypothesis"]["id"] == "wrong_get_more_wrong"
    total = sum(c["contribution"] for c in comp["transitions"].values())
    assert total == pytest.approx(comp["delta_loss"], abs=1e-9)


def test_table_golden_80_columns(tmp_path):
    """The README's example (tests/golden/cases.py); scripts/update_goldens.py rewrites it."""
    text = CASES["analyze_sample_test.txt"](tmp_path)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert text == (GOLDEN / "analyze_sample_test.txt").read_text(encoding="utf-8")


def test_both_layouts_give_the_same_json():
    a = json.loads(run_cli("analyze", "sample_data/stacked", "--format", "json").stdout)
    b = json.loads(run_cli("analyze", "sample_data/per_epoch", "--format", "json").stdout)
    for split in ("test", "train"):
        sa, sb = a["splits"][split], b["splits"][split]
        ca, cb = dict(sa["comparison"]), dict(sb["comparison"])
        ta, tb = ca.pop("temperature"), cb.pop("temperature")
        assert ca == cb
        # T* is fitted over the rows in each file's order: equal up to rounding
        assert ta.pop("fitted_on") == tb.pop("fitted_on") == split
        for k in ("temperature_status_from", "temperature_status_to"):
            assert ta.pop(k) == tb.pop(k), k
        assert set(ta) == set(tb)
        for k, v in ta.items():
            assert v == (None if tb[k] is None else pytest.approx(tb[k], rel=1e-12)), k
        assert sa["hypothesis"] == sb["hypothesis"]
        assert sa["per_epoch"] == sb["per_epoch"]


def test_csv_is_the_per_epoch_table(sample_test):
    logits, y = sample_test
    res = run_cli("analyze", "sample_data/stacked", "--split", "test", "--format", "csv")
    rows = [line.split(",") for line in res.stdout.strip().splitlines()]
    assert rows[0][:5] == ["split", "epoch", "n_samples", "loss", "accuracy"]
    assert len(rows) == 31
    losses = ce(logits, y).mean(axis=1)
    got = np.array([float(r[3]) for r in rows[1:]])
    np.testing.assert_allclose(got, losses, rtol=1e-6)


def test_markdown_has_verdict_and_tables():
    res = run_cli("analyze", "sample_data/stacked", "--split", "test", "--format", "markdown")
    assert "**Verdict: SUPPORTED.**" in res.stdout
    assert "| wrong → wrong | 8 |" in res.stdout


def test_out_writes_report_and_per_sample(tmp_path, sample_test):
    logits, y = sample_test
    out = tmp_path / "out"
    res = run_cli("analyze", "sample_data/stacked", "--out", str(out), "--no-plots")
    assert res.exit_code == 0, res.output
    assert res.stderr == f"Wrote 3 files to {out}/\n"  # a notice: stderr
    assert "Wrote" not in res.stdout
    report = json.loads((out / "report.json").read_text())
    assert report["schema"] == "predaudit.analyze/1"
    per = (out / "test" / "per_sample.csv").read_text().splitlines()
    header = per[0].split(",")
    assert header == [
        "id",
        "label",
        "loss_7",
        "loss_30",
        "pred_7",
        "pred_30",
        "correct_7",
        "correct_30",
        "delta_loss",
        "cell",
    ]
    assert len(per) == 451
    losses = ce(logits, y)
    first = per[1].split(",")
    i = int(first[0])
    assert float(first[2]) == pytest.approx(losses[6, i], rel=1e-6)
    assert float(first[3]) == pytest.approx(losses[29, i], rel=1e-6)
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no temp files left


def test_out_inside_run_folder_is_refused(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    np.save(run / "logits.npy", np.zeros((2, 3, 2)))
    np.save(run / "labels.npy", np.array([0, 1, 0]))
    res = run_cli("analyze", str(run), "--out", str(run / "out"))
    assert res.exit_code == 2
    assert res.stderr == (
        f"Error: --out {run / 'out'} is inside the input run folder {run}; predaudit never "
        "writes there: choose another folder\n"
    )
    assert sorted(p.name for p in run.iterdir()) == ["labels.npy", "logits.npy"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "99"], "Error: --from 99: split 'test' has no epoch 99 (epochs 1..30)\n"),
        (
            ["--to", "latest"],
            "Error: --to 'latest': expected an epoch label or one of first, best, last\n",
        ),
        (
            ["--split", "nope"],
            "Error: no split named 'nope' in sample_data/stacked (splits: test, train)\n",
        ),
    ],
)
def test_bad_epoch_or_split_is_a_usage_error(args, message):
    res = run_cli(
        "analyze",
        "sample_data/stacked",
        *(["--split", "test"] if "--split" not in args else []),
        *args,
    )
    assert res.exit_code == 2
    assert res.stderr == message


def test_from_to_words(sample_test):
    res = run_cli(
        "analyze",
        "sample_data/stacked",
        "--split",
        "test",
        "--from",
        "first",
        "--to",
        "best",
        "--format",
        "json",
    )
    comp = json.loads(res.stdout)["splits"]["test"]["comparison"]
    assert (comp["from"], comp["to"], comp["from_reason"]) == (1, 7, "given")


def _save(folder: Path, logits: np.ndarray, y: np.ndarray) -> Path:
    folder.mkdir()
    np.save(folder / "logits.npy", logits)
    np.save(folder / "labels.npy", y)
    return folder


def test_one_epoch_says_so_plainly(tmp_path):
    rng = np.random.default_rng(0)
    run = _save(tmp_path / "one", rng.normal(size=(1, 20, 3)), rng.integers(0, 3, 20))
    res = run_cli("analyze", str(run))
    assert res.exit_code == 0
    assert "only one epoch: nothing to compare" in res.stdout
    out = json.loads(run_cli("analyze", str(run), "--format", "json").stdout)
    assert out["splits"]["default"]["comparison"] is None


def test_loss_never_rises(tmp_path):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 40)
    base = rng.normal(size=(40, 3))
    base[np.arange(40), y] += 3
    run = _save(tmp_path / "down", np.stack([base * s for s in (0.5, 1, 2)]), y)
    out = json.loads(run_cli("analyze", str(run), "--format", "json").stdout)
    hyp = out["splits"]["default"]["hypothesis"]
    assert hyp["verdict"] == "not_applicable" and hyp["p_value"] is None
    assert out["splits"]["default"]["comparison"]["from_reason"] == "first"


def test_every_sample_correct_at_some_epoch(tmp_path):
    y = np.array([0, 1, 2, 0])
    good = np.eye(3)[y] * 5
    bad = good.copy()
    bad[0] = [0, 1, 0]
    run = _save(tmp_path / "allc", np.stack([good, bad]), y)
    out = json.loads(run_cli("analyze", str(run), "--format", "json").stdout)
    t = out["splits"]["default"]["comparison"]["transitions"]
    assert t["correct_to_wrong"]["n"] == 1 and t["wrong_to_wrong"]["n"] == 0
    assert t["wrong_to_wrong"]["mean_delta"] is None
    assert out["splits"]["default"]["hypothesis"]["verdict"] == "not_applicable"


def test_all_ignored_at_an_epoch_is_an_input_error(tmp_path):
    run = tmp_path / "ign"
    run.mkdir()
    np.save(run / "logits_epoch_1.npy", np.zeros((3, 2)))
    np.save(run / "labels_epoch_1.npy", np.array([0, 1, 0]))
    np.save(run / "logits_epoch_2.npy", np.zeros((3, 2)))
    np.save(run / "labels_epoch_2.npy", np.array([-100, -100, -100]))
    res = run_cli("analyze", str(run))
    assert res.exit_code == 3
    assert res.stderr == (
        f"Error: {run / 'labels_epoch_2.npy'}: every sample is ignored (label -100) at epoch 2\n"
    )


def test_readme_shows_the_real_output():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert (GOLDEN / "analyze_sample_test.txt").read_text(encoding="utf-8") in readme


def test_out_writes_the_figures_per_split(tmp_path):
    out = tmp_path / "figs"
    res = run_cli("analyze", "sample_data/stacked", "--out", str(out), "--plot-format", "svg")
    assert res.exit_code == 0, res.output
    figures = ["loss_accuracy.svg", "loss_split.svg", "rise_samples.svg", "transitions.svg"]
    for split in ("test", "train"):
        assert sorted(p.name for p in (out / split).iterdir()) == sorted(
            [*figures, "per_sample.csv"]
        )
        assert (out / split / "transitions.svg").read_text()[:200].count("<svg") == 1
    assert res.stderr == f"Wrote 11 files to {out}/\n"
    single = tmp_path / "single"
    run_cli("analyze", "sample_data/stacked", "--split", "test", "--out", str(single))
    assert (single / "loss_split.png").read_bytes()[:4] == b"\x89PNG"


def test_top_samples_against_torch(sample_test):
    logits, y = sample_test
    losses = ce(logits, y)
    delta = losses[29] - losses[6]
    expected = np.argsort(-delta, kind="stable")[:5]
    res = run_cli(
        "analyze", "sample_data/stacked", "--split", "test", "--top", "5", "--format", "json"
    )
    top = json.loads(res.stdout)["splits"]["test"]["top"]
    assert [t["id"] for t in top] == expected.tolist()
    probs = torch.softmax(torch.tensor(logits, dtype=torch.float64), -1).numpy()
    for t in top:
        i = t["id"]
        assert t["label"] == y[i]
        assert (t["pred_from"], t["pred_to"]) == (logits[6, i].argmax(), logits[29, i].argmax())
        assert t["loss_from"] == pytest.approx(losses[6, i], rel=1e-6)
        assert t["loss_to"] == pytest.approx(losses[29, i], rel=1e-6)
        assert t["p_true_from"] == pytest.approx(probs[6, i, y[i]], rel=1e-5, abs=1e-300)
        assert t["p_true_to"] == pytest.approx(probs[29, i, y[i]], rel=1e-5, abs=1e-300)


def _small_run(tmp_path: Path, logits: np.ndarray, labels: np.ndarray) -> str:
    run = tmp_path / "run"
    run.mkdir()
    np.save(run / "logits.npy", logits.astype(np.float32))
    np.save(run / "labels.npy", labels)
    return str(run)


def test_top_lists_only_samples_whose_loss_rose(tmp_path):
    """Four samples over two epochs, torch's cross-entropy as the reference: one loss rises,
    three fall. ``--top 3`` lists the one (it listed the falls too, under "rose most") in
    the JSON, the table and the Markdown."""
    z = np.array(
        [
            [[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]],
            [[0.5, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 2.0], [3.0, 0.0, 0.0]],
        ]
    )
    y = np.array([0, 1, 2, 0])
    ce = F.cross_entropy(
        torch.tensor(z).transpose(1, 2), torch.tensor(y).expand(2, 4), reduction="none"
    ).numpy()
    assert list(np.flatnonzero(ce[1] > ce[0])) == [0]
    run = _small_run(tmp_path, z, y)
    top = json.loads(run_cli("analyze", run, "--top", "3", "--format", "json").stdout)
    (only,) = top["splits"]["default"]["top"]
    assert only["id"] == 0
    assert (only["loss_from"], only["loss_to"]) == pytest.approx(tuple(ce[:, 0]), rel=1e-6)
    table = run_cli("analyze", run, "--top", "3").stdout
    assert "Samples whose loss rose most, epoch 1 → 2" in table
    assert "│  0 │     0 │ 0 → 0 │" in table and "│  1 │" not in table
    md = run_cli("analyze", run, "--top", "3", "--format", "markdown").stdout
    assert "| 0 | 0 | 0 → 0 |" in md and "| 1 | 1 |" not in md


def test_top_says_so_when_no_loss_rose(tmp_path):
    """Every loss falls (torch's cross-entropy): ``--top`` gives an empty list in the JSON
    and one line in the table, Markdown and HTML, instead of samples whose loss fell."""
    z = np.array([[[0.5, 0.0], [0.0, 0.2]], [[2.0, 0.0], [0.0, 1.0]]])
    y = np.array([0, 1])
    ce = F.cross_entropy(
        torch.tensor(z).transpose(1, 2), torch.tensor(y).expand(2, 2), reduction="none"
    ).numpy()
    assert (ce[1] < ce[0]).all()
    run = _small_run(tmp_path, z, y)
    out = json.loads(run_cli("analyze", run, "--top", "5", "--format", "json").stdout)
    assert out["splits"]["default"]["top"] == []
    line = "No sample's loss rose from epoch 1 to 2."
    assert line in run_cli("analyze", run, "--top", "5").stdout
    assert f"\n{line}\n" in run_cli("analyze", run, "--top", "5", "--format", "markdown").stdout
    page = run_cli("analyze", run, "--top", "5", "--format", "html").stdout
    assert html.escape(line) in page
    # without --top: no list and no line, and no "top" in the JSON
    assert line not in run_cli("analyze", run).stdout
    plain = json.loads(run_cli("analyze", run, "--format", "json").stdout)
    assert "top" not in plain["splits"]["default"]


def test_plot_options_without_out_are_a_warning_not_silence():
    res = run_cli("analyze", "sample_data/stacked", "--split", "test", "--no-plots")
    assert res.exit_code == 0
    assert res.stderr == "Warning: --no-plots has no effect without --out\n"
    res = run_cli("confusion", "sample_data/stacked", "--split", "test", "--plot-format", "svg")
    assert res.stderr == "Warning: --plot-format svg has no effect without --out\n"
    res = run_cli("analyze", "sample_data/stacked", "--no-plots", "--plot-format", "pdf", "-q")
    assert res.stderr == (
        "Warning: --no-plots and --plot-format pdf have no effect without --out\n"
    )


def test_one_sample_is_one_sample_in_every_header(tmp_path, monkeypatch):
    """One sample counts (the rest are -100): analyze, calibration and dynamics say
    "1 sample", not "1 samples"."""
    z = np.array([[[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]], [[0.0, 1.0], [1.0, 0.0], [1.0, 2.0]]])
    _small_run(tmp_path, z, np.array([0, -100, -100]))
    monkeypatch.chdir(tmp_path)  # a short path: the header stays on one line
    for command in ("analyze", "calibration", "dynamics"):
        out = run_cli(command, "run").stdout
        assert "1 sample," in out or "1 sample ·" in out, command
        assert "1 samples" not in out, command
