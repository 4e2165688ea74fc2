"""`predaudit confusion` end to end (CliRunner), its renderers and golden 80-column output."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from confusion_runs import write_run
from golden.cases import CASES, GOLDEN
from sklearn.metrics import classification_report, confusion_matrix

import predaudit
from predaudit.cli import main
from predaudit.render import OutputFormat
from predaudit.render.confusion import RENDERERS

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data"
DESIGN_FIELDS = {"schema", "run", "split", "epoch", "labels", "matrix", "per_class",
                 "accuracy", "macro", "weighted", "top_confusions"}  # fmt: skip


def one_split(text: str) -> dict:
    """The JSON of a one-split confusion report, checked to be nested under "splits" like
    every report, as one flat dict (schema, run and the split's fields) for the assertions."""
    d = json.loads(text)
    assert set(d) == {"schema", "run", "splits"}
    assert len(d["splits"]) == 1
    (split,) = d["splits"].values()
    return {"schema": d["schema"], "run": d["run"], **split}


def run_cli(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args], env={"COLUMNS": "80", "NO_COLOR": "1"})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A 10-class run, a 25-class run and a run with two splits."""
    root = tmp_path_factory.mktemp("confusion_cli")
    logits, y = write_run(root / "ten", n=300, n_ignored=10)
    write_run(root / "many", n=500, n_classes=25, never_true=(24,), never_pred=(), seed=4)
    write_run(root / "splits" / "train", n=120, seed=1)
    write_run(root / "splits" / "val", n=80, seed=2)
    return root, logits, y


def reference(logits, y, epoch):
    keep = y != -100
    pred = logits[epoch - 1].argmax(axis=1)
    return (
        confusion_matrix(y[keep], pred[keep], labels=range(logits.shape[-1])),
        classification_report(
            y[keep], pred[keep], labels=range(logits.shape[-1]), output_dict=True,
            zero_division=0,
        ),
    )  # fmt: skip


def test_every_format_has_a_renderer():
    assert set(RENDERERS) == set(OutputFormat)


def test_table_fits_80_columns(runs):
    root, _, _ = runs
    res = run_cli("confusion", root / "ten")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert lines[0].endswith("ten · split default · epoch 5")
    text = res.stdout
    for heading in ("Confusion matrix (rows true, columns predicted)", "Per class",
                    "macro avg", "weighted avg", "Top confusions"):  # fmt: skip
        assert heading in text
    assert res.stderr == ""


def test_json_matches_sklearn_and_design(runs):
    root, logits, y = runs
    for word, epoch in (("first", 1), ("last", 5), ("3", 3)):
        res = run_cli("confusion", root / "ten", "--format", "json", "--epoch", word)
        assert res.exit_code == 0, res.output
        d = one_split(res.stdout)
        assert DESIGN_FIELDS <= set(d)
        assert d["schema"] == "predaudit.confusion/1"
        assert (d["split"], d["epoch"], d["labels"]) == ("default", epoch, list(range(10)))
        cm, rep = reference(logits, y, epoch)
        assert d["matrix"] == cm.tolist()
        for row in d["per_class"]:
            ref = rep[str(row["label"])]
            assert row["precision"] == pytest.approx(ref["precision"], abs=1e-12)
            assert row["recall"] == pytest.approx(ref["recall"], abs=1e-12)
            assert row["f1"] == pytest.approx(ref["f1-score"], abs=1e-12)
            assert row["support"] == ref["support"]
        assert d["macro"]["f1"] == pytest.approx(rep["macro avg"]["f1-score"], abs=1e-12)
        assert d["weighted"]["recall"] == pytest.approx(rep["weighted avg"]["recall"], abs=1e-12)
        assert d["accuracy"] == pytest.approx(np.trace(cm) / cm.sum(), abs=1e-12)
        top = d["top_confusions"][0]
        assert top["count"] == max(cm[i, j] for i in range(10) for j in range(10) if i != j)
        assert sum(r["contribution"] for r in d["per_class"]) == pytest.approx(d["loss"], abs=1e-12)


def test_best_epoch_is_lowest_mean_loss(runs):
    root, _, _ = runs
    stats = predaudit.load_run(root / "ten").splits["default"]
    from predaudit.analysis.epochs import mean_loss

    best = stats.epochs[int(np.argmin(mean_loss(stats)))]
    d = one_split(run_cli("confusion", root / "ten", "--format", "json", "--epoch", "best").stdout)
    assert d["epoch"] == best


def test_csv_is_the_matrix_with_labels(runs):
    root, logits, y = runs
    res = run_cli("confusion", root / "ten", "--format", "csv", "--epoch", "2")
    assert res.exit_code == 0, res.output
    rows = list(csv.reader(io.StringIO(res.stdout)))
    assert rows[0] == ["true\\pred", *map(str, range(10))]
    assert [r[0] for r in rows[1:]] == list(map(str, range(10)))
    cm, _ = reference(logits, y, 2)
    assert [[int(x) for x in r[1:]] for r in rows[1:]] == cm.tolist()


@pytest.mark.parametrize("how", ["true", "pred", "all"])
def test_normalize(runs, how):
    root, logits, y = runs
    keep = y != -100
    ref = confusion_matrix(y[keep], logits[4].argmax(1)[keep], labels=range(10), normalize=how)
    res = run_cli("confusion", root / "ten", "--format", "csv", "--normalize", how)
    rows = list(csv.reader(io.StringIO(res.stdout)))
    got = np.array([[float(x) for x in r[1:]] for r in rows[1:]])
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
    d = one_split(run_cli("confusion", root / "ten", "--format", "json", "--normalize", how).stdout)
    assert d["normalize"] == how
    np.testing.assert_allclose(d["matrix_normalized"], ref, rtol=0, atol=1e-12)
    assert (
        d["matrix"]
        == confusion_matrix(y[keep], logits[4].argmax(1)[keep], labels=range(10)).tolist()
    )
    table = run_cli("confusion", root / "ten", "--normalize", how).stdout
    assert {"true": "% of the true class", "pred": "% of the predicted class",
            "all": "% of all samples"}[how] in table  # fmt: skip


def test_markdown(runs):
    root, _, _ = runs
    res = run_cli("confusion", root / "ten", "--format", "markdown")
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert out.startswith("# predaudit confusion `")
    for heading in ("### Confusion matrix", "### Per class", "### Top confusions"):
        assert heading in out
    assert "| macro avg |" in out and "| weighted avg |" in out
    diff = run_cli("confusion", root / "ten", "--format", "markdown", "--diff", "1", "5").stdout
    for heading in ("### Change in the confusion matrix", "### Confusions that grew",
                    "### Change in mean loss by true class"):  # fmt: skip
        assert heading in diff


def test_class_names_both_formats(runs, tmp_path):
    root, _, _ = runs
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
             "ship", "a_truck_with_a_very_long_class_name"]  # fmt: skip
    lines = tmp_path / "names.txt"
    lines.write_text("\n".join(names) + "\n", encoding="utf-8")
    as_json = tmp_path / "names.json"
    as_json.write_text(json.dumps(names), encoding="utf-8")
    outs = [
        one_split(run_cli("confusion", root / "ten", "--format", "json", "--class-names", f).stdout)
        for f in (lines, as_json)
    ]
    assert outs[0] == outs[1]
    d = outs[0]
    assert d["labels"] == names
    assert [r["label"] for r in d["per_class"]] == names
    assert {t["true"] for t in d["top_confusions"]} <= set(names)
    csv_out = run_cli("confusion", root / "ten", "--format", "csv", "--class-names", lines).stdout
    assert csv_out.splitlines()[0] == "true\\pred," + ",".join(names)
    table = run_cli("confusion", root / "ten", "--class-names", lines).stdout
    assert max(len(line) for line in table.splitlines()) <= 80
    # 80 columns: the 35-character name is cut (18 characters: 12 + 1 + 5) as a row label,
    # and to the matrix's column width 5 (10 classes: (80 - 19) // 11 - 1 = 4 < 5)
    assert "a_truck_with…_name" in table  # row label, middle ellipsis
    assert "a_tr…" in table  # narrow matrix column heading
    assert "automobile" in table.split("Per class")[1]  # short names whole
    wide = (
        CliRunner()
        .invoke(
            main,
            ["confusion", str(root / "ten"), "--class-names", str(lines)],
            env={"COLUMNS": "160", "NO_COLOR": "1"},
        )
        .stdout
    )
    assert max(len(line) for line in wide.splitlines()) <= 160
    per_class = wide.split("Per class")[1].split("macro avg")[0]
    assert "a_truck_with_a_very_long_class_name" in per_class  # whole when it fits
    assert "…" not in per_class


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("a\nb\nc\n", "3 class names but the run has 10 classes"),
        ('["a", "b"', "not valid JSON (Expecting ',' delimiter at line 1)"),
        ("\n".join("x" * 10) + "\n", "class name 'x' appears more than once"),
    ],
)
def test_bad_class_names_is_an_input_error(runs, tmp_path, content, problem):
    root, _, _ = runs
    f = tmp_path / "names.txt"
    f.write_text(content, encoding="utf-8")
    res = run_cli("confusion", root / "ten", "--class-names", f)
    assert res.exit_code == 3
    assert res.stderr == f"Error: {f}: {problem}\n"
    assert res.stdout == ""


def test_diff(runs):
    root, logits, y = runs
    res = run_cli("confusion", root / "ten", "--format", "json", "--diff", "first", "last")
    assert res.exit_code == 0, res.output
    d = one_split(res.stdout)
    assert d["epoch"] == 5
    diff = d["diff"]
    assert (diff["from"], diff["to"]) == (1, 5)
    a, _ = reference(logits, y, 1)
    b, _ = reference(logits, y, 5)
    assert diff["matrix"] == (b - a).tolist()
    assert abs(sum(c["delta_contribution"] for c in diff["per_class"]) - diff["delta_loss"]) < 1e-12
    assert all(g["change"] > 0 for g in diff["grew"])
    assert all(s["change"] < 0 for s in diff["shrank"])
    table = run_cli("confusion", root / "ten", "--diff", "1", "last")
    assert table.exit_code == 0
    assert max(len(line) for line in table.stdout.splitlines()) <= 80
    for heading in ("Change in the confusion matrix, epoch 1 → 5",
                    "Confusions that grew and shrank most",
                    "Change in mean loss by true class, epoch 1 → 5"):  # fmt: skip
        assert heading in table.stdout
    csv_rows = list(csv.reader(io.StringIO(
        run_cli("confusion", root / "ten", "--format", "csv", "--diff", "1", "5").stdout
    )))  # fmt: skip
    assert [[int(x) for x in r[1:]] for r in csv_rows[1:]] == (b - a).tolist()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--epoch", "9"), "Error: --epoch 9: split 'default' has no epoch 9 (epochs 1..5)\n"),
        (("--epoch", "soon"),
         "Error: --epoch 'soon': expected an epoch label or one of first, best, last\n"),
        (("--diff", "1", "7"), "Error: --diff 7: split 'default' has no epoch 7 (epochs 1..5)\n"),
    ],
)  # fmt: skip
def test_bad_epoch_is_a_usage_error(runs, args, message):
    root, _, _ = runs
    res = run_cli("confusion", root / "ten", *args)
    assert res.exit_code == 2
    assert res.stderr == message


def test_epoch_and_diff_conflict(runs):
    root, _, _ = runs
    res = run_cli("confusion", root / "ten", "--epoch", "2", "--diff", "1", "2")
    assert res.exit_code == 2
    assert "Error: --epoch and --diff cannot be used together" in res.stderr


def test_missing_and_bad_input_exit_3(runs, tmp_path, assets_dir):
    res = run_cli("confusion", tmp_path / "nothing_here")
    assert res.exit_code == 3
    assert res.stderr.startswith("Error: ") and res.stderr.count("\n") == 1
    res = run_cli("confusion", assets_dir / "bad" / "nan_scores")
    assert res.exit_code == 3
    assert res.stderr.count("\n") == 1 and "NaN" in res.stderr


def test_many_classes(runs, tmp_path):
    root, _, _ = runs
    res = run_cli("confusion", root / "many")
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "Confusion matrix (rows" not in out
    assert "The 25×25 confusion matrix is not shown: print it with --format csv" in out
    assert "Per class (sorted by F1, worst first)" in out
    assert "Top confusions" in out
    assert max(len(line) for line in out.splitlines()) <= 80
    d = one_split(run_cli("confusion", root / "many", "--format", "json").stdout)
    f1 = {str(r["label"]): r["f1"] for r in d["per_class"]}
    start = out.index("Per class")
    rows = out[start:].splitlines()[3 : 3 + 25]
    shown = [float(f1[r.split()[0]]) for r in rows]
    assert shown == sorted(shown)
    assert len(rows) == 25
    # with --out the full matrix goes to CSV and the table says where
    dest = tmp_path / "report"
    res = run_cli("confusion", root / "many", "--out", dest)
    assert res.exit_code == 0, res.output
    path = dest / "confusion_matrix.csv"
    assert f"it was written to {path}" in " ".join(res.stdout.split())
    assert res.stderr == f"Wrote 3 files to {dest}/\n"
    assert "Wrote" not in res.stdout
    assert (dest / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert len(rows) == 26 and len(rows[0]) == 26
    assert sum(int(x) for r in rows[1:] for x in r[1:]) == d["n_samples"]
    # --diff: the change goes to CSV; the loss change by class is sorted, largest first
    res = run_cli("confusion", root / "many", "--diff", "1", "5", "--out", tmp_path / "d")
    assert res.exit_code == 0, res.output
    out = " ".join(res.stdout.split())
    diff_csv = tmp_path / "d" / "confusion_matrix_diff.csv"
    assert (
        f"The 25×25 change in the confusion matrix is not shown; it was written to {diff_csv}"
        in out
    )
    assert "Change in mean loss by true class, epoch 1 → 5 (nats, largest first)" in out
    d = one_split(
        run_cli("confusion", root / "many", "--format", "json", "--diff", "1", "5").stdout
    )
    delta = {str(c["label"]): c["delta_contribution"] for c in d["diff"]["per_class"]}
    start = res.stdout.index("Change in mean loss")
    shown = [delta[r.split()[0]] for r in res.stdout[start:].splitlines()[3 : 3 + 25]]
    assert shown == sorted(shown, reverse=True)


def test_out_writes_json_and_csv_atomically(runs, tmp_path):
    root, _, _ = runs
    dest = tmp_path / "o"
    res = run_cli("confusion", root / "ten", "--format", "json", "--out", dest, "--diff", "1", "5")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in dest.iterdir()) == [
        "confusion.json", "confusion.png", "confusion_diff.png", "confusion_matrix.csv",
        "confusion_matrix_diff.csv",
    ]  # fmt: skip
    assert (dest / "confusion.json").read_text(encoding="utf-8") == res.stdout
    assert res.stderr == f"Wrote 5 files to {dest}/\n"
    svg = tmp_path / "svg"
    res = run_cli("confusion", root / "ten", "--out", svg, "--plot-format", "svg", "-q")
    assert sorted(p.name for p in svg.iterdir()) == [
        "confusion.json", "confusion.svg", "confusion_matrix.csv",
    ]  # fmt: skip
    nop = tmp_path / "nop"
    res = run_cli("confusion", root / "ten", "--out", nop, "--no-plots", "-q")
    assert not list(nop.glob("confusion.png"))
    inside = run_cli("confusion", root / "ten", "--out", root / "ten" / "out")
    assert inside.exit_code == 2
    assert "predaudit never writes there" in inside.stderr
    assert not (root / "ten" / "out").exists()


def test_several_splits(runs, tmp_path):
    root, _, _ = runs
    d = json.loads(run_cli("confusion", root / "splits", "--format", "json").stdout)
    assert set(d) == {"schema", "run", "splits"}
    assert list(d["splits"]) == ["train", "val"]
    for name, s in d["splits"].items():
        assert s["split"] == name
        assert DESIGN_FIELDS - {"schema", "run"} <= set(s)
    one = one_split(
        run_cli("confusion", root / "splits", "--split", "val", "--format", "json").stdout
    )
    assert one["split"] == "val" and DESIGN_FIELDS <= set(one)
    assert {k: v for k, v in one.items() if k not in ("schema", "run")} == d["splits"]["val"]
    table = run_cli("confusion", root / "splits").stdout
    assert "split train · epoch 5" in table and "split val · epoch 5" in table
    res = run_cli("confusion", root / "splits", "--format", "csv")
    assert res.exit_code == 2
    assert res.stderr == (
        f"Error: --format csv prints the matrix of one split; {root / 'splits'} has splits "
        "train, val: choose one with --split\n"
    )
    assert run_cli("confusion", root / "splits", "--format", "csv", "--split", "val").exit_code == 0
    dest = tmp_path / "o"
    assert run_cli("confusion", root / "splits", "--out", dest, "-q").exit_code == 0
    assert (dest / "train" / "confusion_matrix.csv").exists()
    assert (dest / "val" / "confusion_matrix.csv").exists()


# -- golden: a small fixed case read at 80 columns ----------------------------------------


@pytest.mark.parametrize("name", ["confusion_small.txt", "confusion_small_diff.txt"])
def test_table_golden(tmp_path, name):
    """The table of tests/golden/cases.py's small run; scripts/update_goldens.py rewrites it."""
    text = CASES[name](tmp_path)
    assert text == (GOLDEN / name).read_text(encoding="utf-8")
    assert max(len(line) for line in text.splitlines()) <= 80


@pytest.mark.skipif(not (SAMPLE / "stacked").is_dir(), reason="sample_data not generated")
def test_sample_data_matches_sklearn():
    logits = np.load(SAMPLE / "stacked" / "test_logits.npy")
    y = np.load(SAMPLE / "stacked" / "test_labels.npy")
    res = run_cli("confusion", SAMPLE / "stacked", "--split", "test", "--format", "json",
                  "--diff", "best", "last")  # fmt: skip
    assert res.exit_code == 0, res.output
    d = one_split(res.stdout)
    last = logits.shape[0]
    cm, rep = reference(logits, y, last)
    assert d["matrix"] == cm.tolist()
    for row in d["per_class"]:
        assert row["f1"] == pytest.approx(rep[str(row["label"])]["f1-score"], abs=1e-12)
    diff = d["diff"]
    assert diff["to"] == last
    assert abs(sum(c["delta_contribution"] for c in diff["per_class"]) - diff["delta_loss"]) < 1e-12
    assert diff["delta_loss"] > 0  # the sample run overfits: test loss rises
    table = run_cli("confusion", SAMPLE / "stacked", "--split", "test")
    assert table.exit_code == 0
    assert max(len(line) for line in table.stdout.splitlines()) <= 80


def test_top_zero_and_a_perfect_epoch(tmp_path):
    folder = tmp_path / "perfect"
    y = np.array([0, 1, 2, 0, 1, 2])
    right, wrong = np.eye(3)[y] * 5, np.eye(3)[(y + 1) % 3] * 5
    logits = np.stack([right, wrong, right * 2])  # epoch 2: all wrong; 3: as 1, more confident
    folder.mkdir()
    np.save(folder / "logits.npy", logits)
    np.save(folder / "labels.npy", y)
    out = run_cli("confusion", folder, "--epoch", "1").stdout
    assert "No confusions: every sample is predicted as its true class." in out
    out = run_cli("confusion", folder, "--epoch", "2", "--top", "0").stdout
    assert "Top confusions: none listed (--top 0)." in out
    out = run_cli("confusion", folder, "--diff", "1", "3", "--format", "markdown").stdout
    assert "No confusion changed in count." in out
    res = run_cli("confusion", folder, "--diff", "1", "1")
    assert res.exit_code == 2
    assert res.stderr == (
        "Error: --diff 1 1: both epoch 1 and epoch 1 are the same epoch: nothing to compare; "
        "choose two different epochs\n"
    )
    out = run_cli("confusion", folder, "--diff", "1", "2", "--top", "0").stdout
    assert "Confusions that grew and shrank: none listed (--top 0)." in out
    d = one_split(run_cli("confusion", folder, "--epoch", "2", "--format", "json").stdout)
    assert d["accuracy"] == 0.0 and d["macro"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
