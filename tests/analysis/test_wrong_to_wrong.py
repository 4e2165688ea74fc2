"""The link between analyze and dynamics on a hand-built run: which samples are wrong at both
compared epochs, and which data-map region each falls in.

The run is built so the answer is known by construction (the groups below), and every
expectation is also computed independently of predaudit: the compared epochs and the
wrong → wrong samples from torch's cross-entropy and argmax, the confidence and variability
from Dataset Cartography's own ``compute_train_dy_metrics`` (tests/dynamics/reference.py),
and the regions from the documented rule (k-th values, k = int(0.33·n); ambiguous first,
then easy-to-learn, then hard-to-learn).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import torch
from click.testing import CliRunner

import predaudit
from predaudit.analysis.analyze import analyze_run
from predaudit.analysis.dynamics import dynamics_report
from predaudit.cli import main
from predaudit.render.json import to_json
from tests.dynamics import reference as ref

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = {n: json.loads((ROOT / "docs" / "schema" / f"{n}.schema.json").read_text())
           for n in ("analyze", "dynamics")}  # fmt: skip
E, C = 6, 6
FROM, TO = 2, 6  # by construction: epoch 2 has the lowest mean loss, 6 is the last
EXCLUDED_EPOCH = 4  # the "ignored" sample is labelled -100 at this epoch only


def _probs(y: int, p: float, wrong_to: int) -> np.ndarray:
    """C probabilities with p at class y: predicted (the rest spread evenly) when p >= 0.2,
    else class ``wrong_to`` is predicted (70 % of the rest)."""
    out = np.empty(C)
    if p < 0.2:
        out[:] = (1 - p) * 0.3 / (C - 2)
        out[wrong_to] = (1 - p) * 0.7
    else:
        out[:] = (1 - p) / (C - 1)
    out[y] = p
    return out


# (group, label, p_true at epochs 1..6 (wrong where < 0.2), count, the designed region)
GROUPS = [
    ("easy", 0, [0.90, 0.97, 0.97, 0.97, 0.97, 0.97], 11, "easy-to-learn / other"),
    ("amb", 0, [0.30, 0.90, 0.30, 0.90, 0.30, 0.90], 6, "ambiguous"),
    ("amb_ww", 1, [0.80, 0.10, 0.80, 0.80, 0.80, 0.10], 3, "ambiguous"),
    ("hard_ww", 1, [0.05, 0.05, 0.01, 0.003, 0.001, 0.0005], 4, "hard-to-learn"),
    ("hard", 3, [0.15, 0.20, 0.15, 0.15, 0.15, 0.15], 5, "hard-to-learn"),
    ("other_ww", 4, [0.19] * 6, 1, "other"),
    ("ignored_ww", 5, [0.10] * 6, 1, None),
]


def build() -> dict:
    """Logits [E, N, C] (log-probabilities), labels [N], string ids and the group names."""
    logits, labels, ids, group = [], [], [], []
    for name, y, ps, n, _ in GROUPS:
        for j in range(n):
            jitter = 0.001 * j if name == "easy" else 0.0  # distinct confidences
            logits.append([np.log(_probs(y, p + jitter, (y + 2) % C)) for p in ps])
            labels.append(y)
            ids.append(f"{name}|{j}")
            group.append(name)
    ids[group.index("hard_ww")] = "[bold]x\x1b[31m"  # user text: markup and a control char
    return {
        "logits": np.array(logits).transpose(1, 0, 2),  # [E, N, C]
        "labels": np.array(labels),
        "ids": np.array(ids),
        "group": np.array(group),
    }


def ignoring(run: predaudit.RunStats, data: dict) -> predaudit.RunStats:
    """The store of ``run`` with the ignored_ww sample labelled -100 at EXCLUDED_EPOCH only
    (statistics built by hand: the readers refuse a label that changes between epochs)."""
    s = run.splits["default"]
    row = int(np.flatnonzero(s.ids == data["ids"][list(data["group"]).index("ignored_ww")])[0])
    i = s.epoch_index(EXCLUDED_EPOCH)
    cols = {k: np.array(getattr(s, k)) for k in ("valid", "labels", "loss", "correct")}
    cols["valid"][i, row], cols["labels"][i, row] = False, -100
    cols["loss"][i, row], cols["correct"][i, row] = np.nan, False
    s = dataclasses.replace(s, **cols, epoch_totals=None, p_true_moments=None, valid_all=None)
    return predaudit.RunStats(path=run.path, splits={"default": s})


def in_memory(data: dict) -> predaudit.RunStats:
    return ignoring(predaudit.from_arrays(data["logits"], data["labels"], ids=data["ids"]), data)


def labels_of(data: dict, *, ignored: bool = True) -> np.ndarray:
    """[E, N] labels, -100 where a sample does not count."""
    lab = np.tile(data["labels"], (E, 1))
    if ignored:
        lab[EXCLUDED_EPOCH - 1, list(data["group"]).index("ignored_ww")] = -100
    return lab


@pytest.fixture(scope="module")
def data() -> dict:
    return build()


def independent(z: np.ndarray, lab: np.ndarray) -> dict:
    """Everything the reports should say about logits ``z`` [E, N, C] with labels ``lab``
    [E, N] (-100: ignored), computed without predaudit."""
    valid = lab != -100
    zt = torch.from_numpy(z)
    losses = [
        torch.nn.functional.cross_entropy(zt[e][valid[e]], torch.from_numpy(lab[e][valid[e]]))
        for e in range(E)
    ]
    best = int(np.argmin([float(x) for x in losses])) + 1
    wrong = z.argmax(-1) != lab
    ww = np.flatnonzero(wrong[FROM - 1] & wrong[TO - 1] & valid[FROM - 1] & valid[TO - 1])
    in_map = np.flatnonzero(valid.all(axis=0))
    # Cartography's own metrics over the samples it can follow (valid at every epoch)
    metrics, _ = ref.compute_train_dy_metrics(
        ref.cartography_input(z, lab.max(axis=0), in_map), ref.cartography_args()
    )
    conf = dict(zip(metrics["guid"], metrics["confidence"], strict=True))
    var = dict(zip(metrics["guid"], metrics["variability"], strict=True))
    cs, vs = np.sort(list(conf.values())), np.sort(list(var.values()))
    n = in_map.size
    k = int(0.33 * n)
    easy, hard, amb = cs[n - k], cs[k - 1], vs[n - k]

    def region(g: int) -> str | None:
        if g not in conf:
            return None
        if var[g] >= amb:
            return "ambiguous"
        if conf[g] >= easy:
            return "easy-to-learn"
        return "hard-to-learn" if conf[g] <= hard else "other"

    return {
        "best": best,
        "ww": ww,
        "region": {int(g): region(int(g)) for g in ww},
        "conf": conf,
        "var": var,
    }


@pytest.fixture(scope="module")
def expected(data) -> dict:
    return independent(data["logits"], labels_of(data))


def test_the_run_is_what_it_was_built_to_be(data, expected):
    """The independent computation agrees with the design of the groups."""
    assert expected["best"] == FROM
    group = data["group"]
    assert sorted(group[expected["ww"]]) == sorted(
        ["amb_ww"] * 3 + ["hard_ww"] * 4 + ["other_ww", "ignored_ww"]
    )
    designed = {name: r for name, _, _, _, r in GROUPS}
    for g, r in expected["region"].items():
        assert r == designed[group[g]], (group[g], r)


def _counts(expected) -> dict:
    regions = list(expected["region"].values())
    return {
        "n": len(regions),
        "regions": {
            k: regions.count(k) for k in ("easy-to-learn", "ambiguous", "hard-to-learn", "other")
        },  # fmt: skip
        "not_in_map": regions.count(None),
        "hard_fraction": regions.count("hard-to-learn") / len(regions),
    }


def test_analyze_counts_the_wrong_to_wrong_samples_per_region(data, expected):
    run = in_memory(data)
    doc = json.loads(to_json(analyze_run(run)))
    jsonschema.Draft202012Validator(SCHEMAS["analyze"]).validate(doc)
    c = doc["splits"]["default"]["comparison"]
    assert (c["from"], c["to"], c["from_reason"]) == (FROM, TO, "best_loss")
    assert c["transitions"]["wrong_to_wrong"]["n"] == len(expected["ww"])
    assert c["wrong_to_wrong_regions"] == {
        **_counts(expected),
        "data_map_epochs": [1, E],
        "n_epochs": E,
    }
    assert c["wrong_to_wrong_regions_reason"] is None
    m = analyze_run(run).metrics()["default"]
    assert m["ww_hard_fraction"] == 4 / 9


def test_dynamics_lists_them_with_id_label_and_region(data, expected):
    run = in_memory(data)
    doc = json.loads(to_json(dynamics_report(run)))
    jsonschema.Draft202012Validator(SCHEMAS["dynamics"]).validate(doc)
    w = doc["splits"]["default"]["wrong_to_wrong"]
    assert (w["from"], w["to"], w["from_reason"]) == (FROM, TO, "best_loss")
    assert {k: w[k] for k in ("n", "regions", "not_in_map", "hard_fraction")} == _counts(expected)
    ids, labels = data["ids"], labels_of(data)
    # lowest confidence first (ties: canonical row order, i.e. sorted ids), off the map last
    key = {g: (expected["conf"].get(g, np.inf), ids[g]) for g in expected["ww"].tolist()}
    order = sorted(expected["ww"].tolist(), key=key.__getitem__)
    assert [s["id"] for s in w["samples"]] == [ids[g] for g in order]
    assert [s["label"] for s in w["samples"]] == [int(labels[TO - 1, g]) for g in order]
    assert [s["region"] for s in w["samples"]] == [expected["region"][g] for g in order]
    for s, g in zip(w["samples"], order, strict=True):
        if expected["region"][g] is None:
            assert s["confidence"] is None and s["variability"] is None
        else:
            np.testing.assert_allclose(s["confidence"], expected["conf"][g], rtol=1e-6)
            np.testing.assert_allclose(s["variability"], expected["var"][g], rtol=1e-5, atol=1e-9)
    assert w["samples_csv"] is None


def test_an_epoch_range_changes_the_map_not_the_compared_epochs(data):
    run = in_memory(data)
    split = dynamics_report(run, epochs="1:3").splits["default"]
    w = split.wrong_to_wrong
    assert w is not None and (w.from_epoch, w.to_epoch) == (FROM, TO)
    assert w.counts.not_in_map == 0  # the ignored epoch (4) is outside the range
    assert w.counts.data_map_epochs == (1, 3)


def test_unaligned_runs_and_records_say_why(tmp_path):
    unaligned = predaudit.load_run(ROOT / "tests" / "assets" / "ok" / "unaligned_no_ids")
    for split in analyze_run(unaligned).to_dict()["splits"].values():
        c = split["comparison"]
        assert c["wrong_to_wrong_regions"] is None
        assert c["wrong_to_wrong_regions_reason"] == c["transitions_reason"]
    # pre-reduced records without p_true: analyze still works and says why there is no map
    rng = np.random.default_rng(1)
    n = 20
    epoch = np.repeat([1, 2, 3], n)
    np.savez(
        tmp_path / "records.npz",
        epoch=epoch,
        id=np.tile(np.arange(n), 3),
        loss=rng.uniform(0.1, 3, epoch.size),
        correct=rng.random(epoch.size) < 0.5,
    )
    rec = predaudit.load_run(tmp_path, use_cache=False)
    c = analyze_run(rec).to_dict()["splits"]["default"]["comparison"]
    assert c["transitions"] is not None and c["wrong_to_wrong_regions"] is None
    assert c["wrong_to_wrong_regions_reason"] == (
        "pre-reduced records without a p_true, pred or label column, which training dynamics needs"
    )


# -- the command line ---------------------------------------------------------------------


def run_cli(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args], env={"COLUMNS": "80", "NO_COLOR": "1"})


@pytest.fixture(scope="module")
def saved(data, tmp_path_factory) -> tuple[Path, dict]:
    """The run as per-epoch files (float32 logits, no sample ignored), and its expectations."""
    folder = tmp_path_factory.mktemp("ww") / "run"
    folder.mkdir()
    z = data["logits"].astype(np.float32)
    for e in range(E):
        np.savez(folder / f"epoch_{e + 1}.npz", logits=z[e], labels=data["labels"],
                 ids=data["ids"])  # fmt: skip
    return folder, independent(z.astype(np.float64), labels_of(data, ignored=False))


def _phrase(exp: dict) -> str:
    """'9 samples, 5 hard-to-learn, 3 ambiguous, 1 other' from the reference regions."""
    regions = list(exp["region"].values())
    parts = [f"{len(regions)} samples", f"{regions.count('hard-to-learn')} hard-to-learn"]
    parts += [f"{regions.count(k)} {k}" for k in ("ambiguous", "other", "easy-to-learn")
              if regions.count(k)]  # fmt: skip
    return ", ".join(parts)


def test_analyze_prints_one_line(saved):
    folder, exp = saved
    assert exp["best"] == FROM and sorted(exp["region"].values()) == sorted(
        ["ambiguous"] * 3 + ["hard-to-learn"] * 5 + ["other"]
    )
    line = f"Wrong → wrong: {_phrase(exp)} (predaudit dynamics)"
    res = run_cli("analyze", folder, "--no-cache", "--format", "markdown")
    assert res.exit_code == 0, res.output
    assert [x for x in res.stdout.splitlines() if x.startswith("Wrong → wrong")] == [line]
    # at 80 columns the 84 characters break once, before the pointer, after the shift-share
    table = run_cli("analyze", folder, "--no-cache").stdout.splitlines()
    at = next(i for i, x in enumerate(table) if x.startswith("Wrong → wrong"))
    assert table[at - 1].endswith("= ΔL)")  # the shift-share line
    assert [x.rstrip() for x in table[at : at + 2]] == [
        line.rsplit(" (", 1)[0],
        "(predaudit dynamics)",
    ]
    page = run_cli("analyze", folder, "--no-cache", "--format", "html").stdout
    assert f"<p>{line}</p>" in page
    res = run_cli("analyze", folder, "--no-cache", "--format", "json", "--check",
                  "ww_hard_fraction > 0.5", "--check", "ww_hard_fraction > 0.6")  # fmt: skip
    assert res.exit_code == 1  # 5/9 = 0.556: the first passes, the second fails
    checks = json.loads(res.stdout)["checks"]
    assert [c["passed"] for c in checks] == [True, False]
    assert checks[0]["value"] == 5 / 9


def test_no_wrong_to_wrong_sample_has_no_pointer_to_dynamics():
    # the sample run's train split: every sample wrong at epoch 1 is right at the
    # compared epoch (the reference: torch argmax of the stored logits)
    run = ROOT / "sample_data" / "stacked"
    logits = torch.from_numpy(np.load(run / "train_logits.npy"))
    labels = torch.from_numpy(np.load(run / "train_labels.npy"))
    res = run_cli("analyze", run, "--split", "train", "--no-cache", "--format", "json")
    assert res.exit_code == 0, res.output
    cmp = json.loads(res.stdout)["splits"]["train"]["comparison"]
    e0, e1 = cmp["from"] - 1, cmp["to"] - 1  # epochs 1..30 are rows 0..29
    wrong = [logits[e].argmax(1) != labels for e in (e0, e1)]
    assert int((wrong[0] & wrong[1]).sum()) == 0
    for fmt in ("table", "markdown"):
        out = run_cli("analyze", run, "--split", "train", "--no-cache", "--format", fmt)
        lines = [x.rstrip() for x in out.stdout.splitlines() if x.startswith("Wrong → wrong")]
        assert lines == ["Wrong → wrong: 0 samples"], fmt


def test_a_long_line_breaks_after_a_comma():
    from rich.console import Console

    from predaudit.render.wrong_to_wrong import PointedLine

    text = "Wrong → wrong: 10 samples, 5 hard-to-learn, 1 ambiguous, 3 other, 1 easy-to-learn"
    console = Console(width=80, record=True, color_system=None, file=io.StringIO())
    console.print(PointedLine(text + " (predaudit dynamics)"))
    assert [x.rstrip() for x in console.export_text().splitlines()] == [
        "Wrong → wrong: 10 samples, 5 hard-to-learn, 1 ambiguous, 3 other,",
        "1 easy-to-learn (predaudit dynamics)",
    ]


def test_dynamics_lists_them_in_the_table_capped_and_escaped(saved, data, tmp_path):
    folder, exp = saved
    res = run_cli("dynamics", folder, "--no-cache", "--top", "2")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    at = lines.index(f"Wrong → wrong in analyze's comparison, epoch {FROM} → {TO}")
    assert lines[at + 1] == _phrase(exp)
    assert lines[at + 2].split() == ["id", "label", "region", "conf.", "var."]
    first = lines[at + 4]
    assert first.startswith("[bold]x\\x1b[31m ")  # shown as text, the control char escaped
    assert first.split()[1:3] == ["1", "hard-to-learn"]
    assert lines[at + 6] == "… and 7 more (all of them: --format json, --out wrong_to_wrong.csv)"
    assert max(len(x) for x in lines) <= 80
    md = run_cli("dynamics", folder, "--no-cache", "--top", "2", "--format", "markdown").stdout
    assert f"### Wrong → wrong in analyze's comparison, epoch {FROM} → {TO}" in md
    out = tmp_path / "out"
    res = run_cli("dynamics", folder, "--no-cache", "--out", out, "--no-plots", "--format", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    jsonschema.Draft202012Validator(SCHEMAS["dynamics"]).validate(doc)
    listed = doc["splits"]["default"]["wrong_to_wrong"]["samples"]
    ids = data["ids"]
    assert sorted(s["id"] for s in listed) == sorted(ids[exp["ww"]].tolist())
    assert {s["id"]: s["region"] for s in listed} == {ids[g]: r for g, r in exp["region"].items()}
    rows = list(csv.DictReader(io.StringIO((out / "wrong_to_wrong.csv").read_text())))
    assert [r["id"] for r in rows] == [s["id"] for s in listed]
    assert [r["label"] for r in rows] == [str(s["label"]) for s in listed]
    assert [r["region"] for r in rows] == [s["region"] for s in listed]
    assert [float(r["confidence"]) for r in rows] == [s["confidence"] for s in listed]


def test_a_sample_off_the_map_is_counted_and_worded(data):
    from predaudit.render.analyze import analyze_markdown

    md = analyze_markdown(analyze_run(in_memory(data)))
    assert (
        "Wrong → wrong: 9 samples, 4 hard-to-learn, 3 ambiguous, 1 other, 1 not on the map "
        "(predaudit dynamics)"
    ) in md.splitlines()


def test_above_the_limit_the_json_points_to_the_csv(data, monkeypatch):
    import predaudit.analysis.dynamics as dyn

    monkeypatch.setattr(dyn, "PER_SAMPLE_MAX", 5)
    run = in_memory(data)
    doc = json.loads(to_json(dyn.dynamics_report(run)))
    jsonschema.Draft202012Validator(SCHEMAS["dynamics"]).validate(doc)
    w = doc["splits"]["default"]["wrong_to_wrong"]
    assert w["samples"] is None and w["samples_csv"] == "wrong_to_wrong.csv" and w["n"] == 9
