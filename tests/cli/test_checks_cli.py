"""``predaudit analyze --check/--baseline`` and GITHUB_STEP_SUMMARY through Click's runner."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from ci_runs import falling_logits, reference, rising_logits, save
from click.testing import CliRunner

from predaudit.cli import main
from predaudit.render import OutputFormat

ANSI = re.compile(r"\x1b\[")
ANSI_COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-9]|4[0-9]|9[0-7]|10[0-7])[;m]")


def run_cli(*args: str, **env: str | None):
    base: dict[str, str | None] = {
        "COLUMNS": "100",
        "GITHUB_STEP_SUMMARY": None,
        "FORCE_COLOR": None,
        "NO_COLOR": None,
    }
    return CliRunner().invoke(main, list(args), env={**base, **env})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    rising = rising_logits()
    falling = falling_logits()
    paths = {
        "rising": save(root / "rising", *rising),
        "short": save(root / "short", *rising_logits(n_epochs=2)),
        "falling": save(root / "falling", *falling),
    }
    two = root / "two"
    save(two / "test", *rising)
    save(two / "train", *falling)
    paths["two"] = two
    refs = {"rising": reference(*rising), "falling": reference(*falling)}
    return {k: str(v) for k, v in paths.items()}, refs


def test_checks_pass_exit_0_and_table_follows_report(runs):
    paths, _ = runs
    res = run_cli("analyze", paths["rising"], "--check", "accuracy >= 0.8", "--check", "loss < 5")
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert out.index("Verdict") < out.index("Checks")
    assert re.search(r"│ accuracy >= 0\.8 +│ default │ +0\.8 │ +0\.8 │ pass", out)
    assert out.rstrip().endswith("All 2 checks passed.")
    assert res.stderr == ""
    assert not ANSI.search(out)


def test_a_failed_check_exits_1_after_printing_everything(runs):
    paths, _ = runs
    res = run_cli(
        "analyze", paths["rising"], "--check", "hypothesis != supported", "--check", "loss < 5"
    )
    assert res.exit_code == 1
    assert "│ hypothesis != supported │ default │ supported │ supported │ FAIL" in res.stdout
    assert res.stdout.rstrip().endswith(
        "1 of 2 checks failed: hypothesis != supported on default (value supported)."
    )
    assert res.stderr == ""


def test_json_checks_against_numpy(runs):
    paths, refs = runs
    ref = refs["rising"]
    res = run_cli(
        "analyze",
        paths["rising"],
        "--format",
        "json",
        *[x for m in ref for x in ("--check", f"{m} > -1e9")],
        "--check",
        "default:hypothesis == rejected",
    )
    assert res.exit_code == 1
    checks = json.loads(res.stdout)["checks"]
    assert [c["metric"] for c in checks] == [*ref, "hypothesis"]
    for c in checks[:-1]:
        assert set(c) >= {"expression", "split", "metric", "value", "op", "threshold", "passed"}
        assert c["value"] == pytest.approx(ref[c["metric"]], rel=1e-9, abs=1e-12)
        assert (c["split"], c["op"], c["threshold"], c["passed"]) == ("default", ">", -1e9, True)
    assert checks[-1] == {
        "expression": "default:hypothesis == rejected",
        "split": "default",
        "metric": "hypothesis",
        "value": "supported",
        "op": "==",
        "threshold": "rejected",
        "passed": False,
        "baseline_split": None,
        "baseline_value": None,
    }


def test_json_without_checks_has_no_checks_key(runs):
    paths, _ = runs
    out = json.loads(run_cli("analyze", paths["rising"], "--format", "json").stdout)
    assert "checks" not in out
    assert out["schema"] == "predaudit.analyze/1"


def test_csv_keeps_stdout_one_table_and_puts_checks_on_stderr(runs):
    paths, refs = runs
    plain = run_cli("analyze", paths["rising"], "--format", "csv")
    res = run_cli("analyze", paths["rising"], "--format", "csv", "--check", "ww_share >= 0.5", "-q")
    assert res.exit_code == 0
    assert res.stdout == plain.stdout
    rows = list(csv.DictReader(io.StringIO(res.stderr)))
    assert len(rows) == 1
    assert rows[0]["expression"] == "ww_share >= 0.5"
    assert float(rows[0]["value"]) == pytest.approx(refs["rising"]["ww_share"], rel=1e-12)
    assert (rows[0]["threshold"], rows[0]["passed"]) == ("0.5", "true")


def test_markdown_summary(runs):
    paths, _ = runs
    res = run_cli("analyze", paths["rising"], "--format", "markdown", "--check", "accuracy >= 0.9")
    assert res.exit_code == 1
    md = res.stdout
    assert md.splitlines()[0] == (
        "**❌ predaudit checks: 1 of 1 check failed: accuracy >= 0.9 on default (value 0.8).**"
    )
    assert "### Key metrics\n\n| metric | value |\n| --- | ---: |\n| loss |" in md
    assert "| `accuracy >= 0.9` | default | 0.8 | 0.9 | ❌ **FAIL** |" in md
    assert "| wrong → wrong |" in md  # the transition table of the report
    assert md.index("wrong → wrong") < md.index("### Checks")


def test_markdown_without_checks_is_the_report_markdown(runs):
    paths, _ = runs
    res = run_cli("analyze", paths["rising"], "--format", "markdown")
    assert "### Checks" not in res.stdout and "predaudit checks" not in res.stdout


@pytest.mark.parametrize("fmt", [f.value for f in OutputFormat])
def test_every_format_shows_the_checks(runs, fmt):
    paths, _ = runs
    res = run_cli("analyze", paths["falling"], "--format", fmt, "--check", "ww_share < 0.5")
    assert res.exit_code == 1
    shown = res.stdout + res.stderr
    assert "ww_share < 0.5" in shown
    assert ("n/a" in shown) or ('"value": null' in shown) or (",ww_share,,<,0.5,false" in shown)


def test_github_step_summary_is_appended_whatever_the_format(runs, tmp_path):
    paths, _ = runs
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n", encoding="utf-8")
    args = ["analyze", paths["rising"], "--check", "accuracy >= 0.8"]
    res = run_cli(*args, "--format", "json", GITHUB_STEP_SUMMARY=str(summary))
    assert res.exit_code == 0
    json.loads(res.stdout)  # stdout stays pure JSON
    md = run_cli(*args, "--format", "markdown").stdout
    res = run_cli(*args, GITHUB_STEP_SUMMARY=str(summary))
    assert res.exit_code == 0
    text = summary.read_text(encoding="utf-8")
    assert text == "# earlier step\n" + (md.rstrip("\n") + "\n\n") * 2
    assert "✅ predaudit checks: The check passed." in text


def test_github_step_summary_unwritable_warns(runs, tmp_path):
    paths, _ = runs
    res = run_cli(
        "analyze", paths["rising"], "--check", "loss > 9", GITHUB_STEP_SUMMARY=str(tmp_path)
    )
    assert res.exit_code == 1
    assert res.stderr.startswith(f"Warning: GITHUB_STEP_SUMMARY {tmp_path}: ")
    assert res.stderr.endswith("; summary not written\n")


def test_baseline_from_out_folder_catches_a_regression(runs, tmp_path):
    paths, _ = runs
    res = run_cli("analyze", paths["short"], "--out", str(tmp_path / "base"), "--no-plots")
    assert res.exit_code == 0, res.output
    base = json.loads((tmp_path / "base" / "report.json").read_text())
    base_loss = base["splits"]["default"]["per_epoch"][-1]["loss"]
    res = run_cli(
        "analyze",
        paths["rising"],
        "--format",
        "json",
        "--baseline",
        str(tmp_path / "base" / "report.json"),
        "--check",
        "loss <= baseline.loss + 0.05",
        "--check",
        "accuracy >= baseline.accuracy - 0.01",
    )
    assert res.exit_code == 1
    loss, acc = json.loads(res.stdout)["checks"]
    assert loss["threshold"] == base_loss + 0.05 and loss["baseline_value"] == base_loss
    assert not loss["passed"] and acc["passed"]
    # the folder itself works as --baseline too, and a run is never worse than itself
    res = run_cli(
        "analyze",
        paths["short"],
        "--baseline",
        str(tmp_path / "base"),
        "--check",
        "loss <= baseline.loss",
        "--check",
        "hypothesis == baseline.hypothesis",
    )
    assert res.exit_code == 0, res.output


def test_two_splits(runs, tmp_path):
    paths, refs = runs
    res = run_cli(
        "analyze",
        paths["two"],
        "--format",
        "json",
        "--check",
        "accuracy >= 0.75",
        "--check",
        "train:hypothesis == not_applicable",
    )
    checks = json.loads(res.stdout)["checks"]
    assert [(c["split"], c["passed"]) for c in checks] == [
        ("test", True),
        ("train", refs["falling"]["accuracy"] >= 0.75),
        ("train", True),
    ]
    assert checks[1]["value"] == pytest.approx(refs["falling"]["accuracy"])
    # a baseline of the same layout matches split by split
    (tmp_path / "two.json").write_text(res.stdout, encoding="utf-8")
    res = run_cli(
        "analyze", paths["two"], "--baseline", str(tmp_path / "two.json"),
        "--check", "loss == baseline.loss",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    # one split in the baseline, two in the run: cannot match
    one = tmp_path / "one.json"
    one.write_text(run_cli("analyze", paths["rising"], "--format", "json").stdout)
    res = run_cli(
        "analyze", paths["two"], "--baseline", str(one), "--check", "loss <= baseline.loss"
    )
    assert res.exit_code == 3
    assert res.stderr == (
        f"Error: {one}: baseline has no split 'test' to compare with (its splits: default)\n"
    )
    # ... unless --split leaves one split on each side
    res = run_cli(
        "analyze",
        paths["two"],
        "--split",
        "test",
        "--baseline",
        str(one),
        "--check",
        "loss == baseline.loss",
    )
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--check", "acc >= 0.9"],
            "Error: --check 'acc >= 0.9': unknown metric 'acc'; valid metrics: loss, accuracy, "
            "best_loss, best_accuracy, delta_loss, delta_accuracy, ww_share, ww_hard_fraction, "
            "temperature_share, ece, temperature, hypothesis\n",
        ),
        (
            ["--check", "test:loss < 1"],
            "Error: --check 'test:loss < 1': no split 'test' in {run} (splits: default)\n",
        ),
        (
            ["--check", "loss < baseline.loss"],
            "Error: --check 'loss < baseline.loss': uses baseline.loss but no --baseline was "
            "given\n",
        ),
    ],
)
def test_usage_errors_are_one_line_exit_2(runs, args, message):
    paths, _ = runs
    res = run_cli("analyze", paths["rising"], *args)
    assert res.exit_code == 2
    assert res.stderr == message.format(run=paths["rising"])
    assert res.stdout == ""


def test_a_bad_check_is_reported_before_reading_anything(tmp_path):
    res = run_cli("analyze", str(tmp_path / "missing"), "--check", "loss <")
    assert res.exit_code == 2
    assert res.stderr.startswith("Error: --check 'loss <': no value after '<'")


def test_baseline_input_errors_exit_3(runs, tmp_path):
    paths, _ = runs
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "predaudit.confusion/1"}', encoding="utf-8")
    res = run_cli("analyze", paths["rising"], "--baseline", str(bad), "--check", "loss < 1")
    assert res.exit_code == 3
    assert res.stderr == (
        f"Error: {bad}: is a predaudit.confusion/1 report; expected predaudit.analyze/1\n"
    )


def test_no_colour_when_not_a_terminal_or_with_no_color(runs):
    paths, _ = runs
    args = ["analyze", paths["rising"], "--check", "loss > 9"]
    assert not ANSI.search(run_cli(*args).stdout)
    forced = run_cli(*args, FORCE_COLOR="1")
    assert ANSI_COLOUR.search(forced.stdout)  # the pattern does detect colour
    res = run_cli(*args, FORCE_COLOR="1", NO_COLOR="1")
    assert res.exit_code == 1
    assert not ANSI_COLOUR.search(res.stdout)


def test_checks_do_not_change_the_report(runs):
    paths, _ = runs
    a = json.loads(run_cli("analyze", paths["rising"], "--format", "json").stdout)
    b = run_cli("analyze", paths["rising"], "--format", "json", "--check", "loss < 0")
    assert b.exit_code == 1
    out = json.loads(b.stdout)
    assert out.pop("checks")[0]["value"] == a["splits"]["default"]["per_epoch"][-1]["loss"]
    assert out == a


# -- predaudit confusion --check ---------------------------------------------------------------


def test_confusion_checks_against_sklearn(runs, tmp_path):
    from sklearn.metrics import accuracy_score, f1_score, recall_score

    paths, _ = runs
    logits, y = rising_logits()
    pred = logits[-1].argmax(axis=-1)
    expected = {
        "accuracy": accuracy_score(y, pred),
        "macro_f1": f1_score(y, pred, average="macro", zero_division=0),
        "min_recall": recall_score(y, pred, average=None, zero_division=0).min(),
    }
    res = run_cli(
        "confusion",
        paths["rising"],
        "--format",
        "json",
        *[x for m in expected for x in ("--check", f"{m} >= 0.79")],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["schema"] == "predaudit.confusion/1"
    got = {c["metric"]: c["value"] for c in out["checks"]}
    assert got == pytest.approx(expected, rel=1e-12)
    # a confusion report is a baseline for confusion checks, and only for them
    base = tmp_path / "confusion.json"
    base.write_text(res.stdout, encoding="utf-8")
    res = run_cli(
        "confusion", paths["short"], "--baseline", str(base),
        "--check", "macro_f1 >= baseline.macro_f1 - 0.01", "--check", "min_recall > 0.99",
    )  # fmt: skip
    assert res.exit_code == 1
    assert "1 of 2 checks failed: min_recall > 0.99 on default" in res.stdout
    res = run_cli("analyze", paths["rising"], "--baseline", str(base), "--check", "loss < 9")
    assert res.exit_code == 3
    assert res.stderr == (
        f"Error: {base}: is a predaudit.confusion/1 report; expected predaudit.analyze/1\n"
    )


def test_confusion_usage_error_lists_its_metrics(runs):
    paths, _ = runs
    res = run_cli("confusion", paths["rising"], "--check", "ww_share < 0.5")
    assert res.exit_code == 2
    assert res.stderr == (
        "Error: --check 'ww_share < 0.5': unknown metric 'ww_share'; "
        "valid metrics: accuracy, macro_f1, min_recall\n"
    )


def test_confusion_two_splits_and_baseline_by_name(runs, tmp_path):
    paths, _ = runs
    res = run_cli("confusion", paths["two"], "--format", "json", "--check", "accuracy > 0")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [c["split"] for c in out["checks"]] == ["test", "train"]
    (tmp_path / "c2.json").write_text(res.stdout, encoding="utf-8")
    res = run_cli(
        "confusion", paths["two"], "--format", "csv", "--split", "train",
        "--baseline", str(tmp_path / "c2.json"), "--check", "min_recall == baseline.min_recall",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert res.stderr.splitlines()[1].startswith(
        "min_recall == baseline.min_recall,train,min_recall,"
    )
