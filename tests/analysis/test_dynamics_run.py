"""``predaudit dynamics`` on the sample run, against references computed here from the raw
logits with torch and numpy (never through the store or the accumulator)."""

from __future__ import annotations

import csv
import functools
import io
import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import torch

import predaudit
import predaudit.report.dynamics as report_mod
from predaudit.analysis.dynamics import dynamics_report, parse_epoch_range
from predaudit.errors import InputError, OptionError
from predaudit.render.dynamics import bundle_files
from predaudit.render.json import to_json
from predaudit.report.dynamics import CSV_COLUMNS, LABEL_PROBLEM_NOTE

ROOT = Path(__file__).resolve().parents[2]
STACKED = ROOT / "sample_data" / "stacked"
UNALIGNED = ROOT / "tests" / "assets" / "ok" / "unaligned_no_ids"
SCHEMA = json.loads((ROOT / "docs" / "schema" / "dynamics.schema.json").read_text())


def reference(logits: np.ndarray, y: np.ndarray, *, el2n_index: int = 0) -> dict[str, np.ndarray]:
    """Per-sample dynamics of logits [E, N, C] with labels [N], by torch and numpy."""
    z = torch.from_numpy(logits.astype(np.float64))
    p = torch.softmax(z, dim=-1)
    yt = torch.from_numpy(y).long()
    n = y.size
    p_true = p[:, torch.arange(n), yt].numpy()  # [E, N]
    correct = (p.argmax(dim=-1) == yt).numpy()
    z_true = z[:, torch.arange(n), yt]
    other = z.clone()
    other[:, torch.arange(n), yt] = -torch.inf
    margin = (z_true - other.max(dim=-1).values).numpy()
    onehot = torch.nn.functional.one_hot(yt, z.shape[-1]).double()
    brier = ((p - onehot) ** 2).sum(dim=-1).numpy()
    forgetting = (correct[:-1] & ~correct[1:]).sum(axis=0)
    learned = correct.any(axis=0)
    return {
        "confidence": p_true.mean(axis=0),
        "variability": p_true.std(axis=0, ddof=0),
        "correctness": correct.mean(axis=0),
        "correct_epochs": correct.sum(axis=0),
        "forgetting_events": forgetting,
        "never_learned": ~learned,
        "first_learned_index": np.where(learned, correct.argmax(axis=0), -1),
        "aum": margin.mean(axis=0),
        "el2n": np.sqrt(brier[el2n_index]),
        "pred": p.argmax(dim=-1).numpy(),
    }


@pytest.fixture(scope="module")
def raw() -> tuple[np.ndarray, np.ndarray]:
    return np.load(STACKED / "test_logits.npy"), np.load(STACKED / "test_labels.npy")


@pytest.fixture(scope="module")
def run() -> predaudit.RunStats:
    return predaudit.load_run(STACKED, split="test", calibration=True)


@pytest.fixture(scope="module")
def doc(run) -> dict:
    return json.loads(to_json(dynamics_report(run, top=10)))["splits"]["test"]


def column(rows: list[dict], key: str) -> np.ndarray:
    return np.array([r[key] for r in rows], dtype=float)


def test_every_per_sample_value_matches_the_reference(raw, doc):
    logits, y = raw
    ref = reference(logits, y)
    rows = doc["per_sample"]
    assert [r["id"] for r in rows] == list(range(y.size))  # no ids: positions
    assert [r["label"] for r in rows] == y.tolist()
    for key in ("confidence", "variability", "correctness", "aum", "el2n"):
        np.testing.assert_allclose(column(rows, key), ref[key], rtol=1e-5, atol=1e-6, err_msg=key)
    for key in ("correct_epochs", "forgetting_events"):
        assert column(rows, key).astype(int).tolist() == ref[key].tolist(), key
    first = [r["first_learned"] for r in rows]
    expected = [None if i < 0 else int(i) + 1 for i in ref["first_learned_index"]]  # labels 1..30
    assert first == expected
    assert doc["summary"]["never_learned"] == int(ref["never_learned"].sum())
    assert doc["summary"]["forgotten_at_least_once"] == int((ref["forgetting_events"] > 0).sum())
    assert doc["variability_ddof"] == 0
    assert doc["aum"] == {"available": True, "note": None}
    assert doc["el2n"] == {"epoch": 1, "note": None}


def test_the_sample_run_has_what_the_test_needs(raw):
    ref = reference(*raw)
    assert ref["never_learned"].sum() > 0 and (ref["forgetting_events"] > 1).sum() > 0


def test_regions_and_rankings_follow_the_quantile_rule(raw, doc):
    ref = reference(*raw)
    n = raw[1].size
    k = int(0.33 * n)
    conf, var = np.sort(ref["confidence"]), np.sort(ref["variability"])
    th = doc["thresholds"]
    assert th["method"] == "quantile" and th["fraction"] == 0.33 and "k-th" in th["description"]
    np.testing.assert_allclose(th["easy_confidence"], conf[n - k], rtol=1e-6)
    np.testing.assert_allclose(th["hard_confidence"], conf[k - 1], rtol=1e-6)
    np.testing.assert_allclose(th["ambiguous_variability"], var[n - k], rtol=1e-6)
    regions = [r["region"] for r in doc["per_sample"]]
    amb = column(doc["per_sample"], "variability") >= th["ambiguous_variability"]
    c = column(doc["per_sample"], "confidence")
    expected = np.where(
        amb,
        "ambiguous",
        np.where(
            c >= th["easy_confidence"],
            "easy-to-learn",
            np.where(c <= th["hard_confidence"], "hard-to-learn", "other"),
        ),
    )
    assert regions == expected.tolist()
    counts = doc["summary"]["regions"]
    assert sum(counts.values()) == n
    assert counts == {name: regions.count(name) for name in counts}
    assert doc["summary"]["hard_fraction"] == counts["hard-to-learn"] / n
    assert [r["id"] for r in doc["most_ambiguous"]] == np.argsort(-ref["variability"])[:10].tolist()
    assert [r["id"] for r in doc["hardest"]] == np.argsort(ref["confidence"])[:10].tolist()


def test_likely_label_problems_are_mostly_wrong_towards_one_class(raw, doc):
    logits, y = raw
    ref = reference(logits, y)
    lp = doc["label_problems"]
    assert lp["note"] == LABEL_PROBLEM_NOTE
    assert "may be mislabeled or genuinely hard — inspect them" in lp["note"]
    assert 0 < len(lp["samples"]) <= lp["n_candidates"]
    e = logits.shape[0]
    for s in lp["samples"]:
        i = s["id"]
        wrong = ref["pred"][:, i] != y[i]
        assert s["label"] == y[i]
        assert s["wrong_fraction"] == pytest.approx(wrong.mean())
        assert s["wrong_fraction"] >= lp["min_wrong_fraction"]
        classes, n_pred = np.unique(ref["pred"][wrong, i], return_counts=True)
        assert s["suspect_class"] == classes[np.argmax(n_pred)]
        assert s["consistency"] == pytest.approx(n_pred.max() / e)
    scores = [s["score"] for s in lp["samples"]]
    assert scores == sorted(scores, reverse=True)


def test_an_epoch_range_and_an_el2n_epoch(raw, run):
    logits, y = raw
    rep = dynamics_report(run, epochs="5:20", el2n_epoch=12, top=3)
    d = json.loads(to_json(rep))["splits"]["test"]
    ref = reference(logits[4:20], y, el2n_index=12 - 5)
    assert d["epochs"] == list(range(5, 21)) and d["n_epochs"] == 16
    rows = d["per_sample"]
    for key in ("confidence", "variability", "aum", "el2n"):
        np.testing.assert_allclose(column(rows, key), ref[key], rtol=1e-5, atol=1e-6, err_msg=key)
    assert (
        column(rows, "forgetting_events").astype(int).tolist() == ref["forgetting_events"].tolist()
    )
    first = [r["first_learned"] for r in rows]
    assert first == [None if i < 0 else int(i) + 5 for i in ref["first_learned_index"]]
    assert d["el2n"]["epoch"] == 12
    assert len(d["most_ambiguous"]) == len(d["hardest"]) == 3


def test_dynamics_csv_holds_the_same_values(raw, run):
    rep = dynamics_report(run)
    ((role, name, text),) = bundle_files(rep.splits["test"])
    assert (role, name) == ("per_sample", "dynamics.csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    ref = reference(*raw)
    for key in ("confidence", "variability", "correctness", "aum", "el2n"):
        got = np.array([float(r[key]) for r in rows])
        np.testing.assert_allclose(got, ref[key], rtol=1e-5, atol=1e-6, err_msg=key)
    assert [int(r["forgetting_events"]) for r in rows] == ref["forgetting_events"].tolist()
    never = ref["never_learned"]
    assert [r["first_learned"] == "" for r in rows] == never.tolist()


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("5:20", (5, 20)), (" :7", (None, 7)), ("3:", (3, None)), (":", (None, None))],
)
def test_parse_epoch_range(spec, expected):
    assert parse_epoch_range(spec) == expected


@pytest.mark.parametrize("spec", ["5", "a:b", "5-20", "1:2:3", "9:3"])
def test_bad_epoch_ranges_are_option_errors(spec):
    with pytest.raises(OptionError) as e:
        parse_epoch_range(spec)
    assert e.value.param == "epochs"


def test_probabilities_have_no_aum_and_say_why(raw):
    logits, y = raw
    probs = torch.softmax(torch.from_numpy(logits).double(), dim=-1).numpy()
    run = predaudit.from_arrays(probs, y, split="test", input_kind="probs", calibration=True)
    d = json.loads(to_json(dynamics_report(run)))["splits"]["test"]
    assert d["aum"]["available"] is False and "probs" in d["aum"]["note"]
    assert {r["aum"] for r in d["per_sample"]} == {None}
    ref = reference(logits, y)
    np.testing.assert_allclose(column(d["per_sample"], "confidence"), ref["confidence"], rtol=1e-5)
    jsonschema.Draft202012Validator(SCHEMA).validate(json.loads(to_json(dynamics_report(run))))


def test_without_brier_scores_el2n_is_null_with_the_reason(raw):
    run = predaudit.load_run(STACKED, split="test")
    d = json.loads(to_json(dynamics_report(run)))["splits"]["test"]
    assert d["el2n"]["epoch"] is None and "calibration=True" in d["el2n"]["note"]
    assert {r["el2n"] for r in d["per_sample"]} == {None}
    with pytest.raises(OptionError, match="calibration=True"):
        dynamics_report(run, el2n_epoch=3)


def test_an_unaligned_run_is_an_input_error():
    with pytest.raises(InputError, match="save sample ids"):
        dynamics_report(predaudit.load_run(UNALIGNED))


def test_over_the_limit_the_samples_go_to_the_csv(run, monkeypatch):
    monkeypatch.setattr(report_mod, "PER_SAMPLE_MAX", 100)
    doc = json.loads(to_json(dynamics_report(run)))
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    d = doc["splits"]["test"]
    assert d["per_sample"] is None and d["per_sample_csv"] == "dynamics.csv"


def test_the_json_validates_and_the_metrics_read_back(run):
    rep = dynamics_report(run)
    doc = json.loads(to_json(rep))
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    assert doc["splits"]["test"]["per_sample_csv"] is None
    m = rep.metrics()["test"]
    assert m == rep.metrics_from_dict(doc)["test"]
    assert m["n_never_learned"] == doc["splits"]["test"]["summary"]["never_learned"]
    assert m["n_label_problems"] == doc["splits"]["test"]["label_problems"]["n_candidates"]


def test_saturated_probabilities_do_not_make_every_sample_ambiguous():
    """Most samples at p = 1 at every epoch tie at variability 0: the k-th largest
    variability is 0, which would select all; the threshold is the next larger value."""
    rng = np.random.default_rng(0)
    e, n, c = 5, 60, 3
    y = rng.integers(0, c, n)
    logits = np.zeros((e, n, c), np.float32)
    logits[:, np.arange(n), y] = 200.0
    logits[:, :10] += rng.normal(size=(e, 10, c)).astype(np.float32) * 100
    split = dynamics_report(predaudit.from_arrays(logits, y)).splits["default"]
    var = split.samples.variability
    assert (var == var.min()).sum() >= 0.67 * n  # the tie the rule is for
    assert split.thresholds.ambiguous_variability == var[var > var.min()].min()
    assert split.region_counts["ambiguous"] == (var > var.min()).sum() < 10
    assert split.region_counts["easy-to-learn"] >= 50
    perfect = np.zeros((e, n, c), np.float32)
    perfect[:, np.arange(n), y] = 5.0
    split = dynamics_report(predaudit.from_arrays(perfect, y)).splits["default"]
    assert split.region_counts == {"easy-to-learn": n, "ambiguous": 0, "hard-to-learn": 0,
                                   "other": 0}  # fmt: skip
    assert split.thresholds.ambiguous_variability == float("inf")


@functools.cache
def _small_runs() -> dict[str, predaudit.RunStats]:
    rng = np.random.default_rng(5)
    e, n, c = 4, 40, 3
    logits = rng.normal(size=(e, n, c)).astype(np.float32)
    y = rng.integers(0, c, n)
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    y_ignored = y.copy()
    y_ignored[:4] = -100
    str_ids = np.array([f"img_{i:03d}" for i in range(n)])
    return {
        "binary": predaudit.from_arrays(logits[..., 0], y % 2, calibration=True),
        "probs_string_ids": predaudit.from_arrays(
            p, y, ids=str_ids, input_kind="probs", calibration=True
        ),
        "log_probs_ignored": predaudit.from_arrays(
            np.log(p), y_ignored, input_kind="log_probs", calibration=True
        ),
        "masked": predaudit.load_run(ROOT / "tests" / "assets" / "ok" / "neg_inf_masked"),
        "per_epoch_ids": predaudit.load_run(ROOT / "sample_data" / "per_epoch", calibration=True),
    }


SMALL_RUNS = ["binary", "log_probs_ignored", "masked", "per_epoch_ids", "probs_string_ids"]


@pytest.mark.parametrize("name", SMALL_RUNS)
def test_small_runs_validate(name):
    run = _small_runs()[name]
    doc = json.loads(to_json(dynamics_report(run, top=3)))
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    for split in doc["splits"].values():
        assert len(split["per_sample"]) == split["n_samples"]
        assert sum(split["summary"]["regions"].values()) == split["n_samples"]
    if name == "log_probs_ignored":
        assert doc["splits"]["default"]["n_ignored"] == 4
    if name == "probs_string_ids":
        ids = [r["id"] for r in doc["splits"]["default"]["per_sample"]]
        assert ids == sorted(ids) and ids[0] == "img_000"
