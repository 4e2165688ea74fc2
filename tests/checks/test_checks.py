"""predaudit.checks: parsing, metric values, baselines and evaluation (no CLI)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from ci_runs import falling_logits, reference, rising_logits, save
from rich.console import Console

from predaudit import InputError, OptionError, load_run
from predaudit.analysis.analyze import analyze_run
from predaudit.checks import (
    Baseline,
    Check,
    CheckedReport,
    CheckResult,
    check_report,
    compare,
    evaluate,
    load_baseline,
    parse_check,
    parse_checks,
    report_metrics,
)
from predaudit.checks.parse import OPS
from predaudit.cli import PARAM_OPTIONS
from predaudit.render.checks import (
    checks_csv,
    checks_markdown,
    checks_table,
    fmt_value,
    key_metrics_markdown,
    summary_line,
)
from predaudit.report.analyze import METRICS as ANALYZE_METRICS
from predaudit.report.confusion import METRICS as CONFUSION_METRICS
from predaudit.report.confusion import split_metrics as confusion_metrics

METRIC_LIST = (
    "loss, accuracy, best_loss, best_accuracy, delta_loss, delta_accuracy, ww_share, "
    "ww_hard_fraction, temperature_share, ece, temperature, hypothesis"
)


@pytest.fixture(scope="module")
def rising(tmp_path_factory):
    logits, y = rising_logits()
    run = save(tmp_path_factory.mktemp("rising") / "run", logits, y)
    return analyze_run(load_run(str(run))), reference(logits, y)


@pytest.fixture(scope="module")
def falling(tmp_path_factory):
    logits, y = falling_logits()
    run = save(tmp_path_factory.mktemp("falling") / "run", logits, y)
    return analyze_run(load_run(str(run))), reference(logits, y)


# -- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("op", list(OPS))
def test_every_operator_parses(op):
    c = parse_check(f"loss {op} 0.5")
    assert (c.split, c.metric, c.op, c.value, c.baseline_metric) == (None, "loss", op, 0.5, None)
    assert c.expression == f"loss {op} 0.5"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("accuracy>=0.9", Check("accuracy >= 0.9", None, "accuracy", ">=", 0.9, rhs="0.9")),
        (
            "  test : Accuracy  >=  .9 ",
            Check("test:accuracy >= .9", "test", "accuracy", ">=", 0.9, rhs=".9"),
        ),
        ("loss < 1e-1", Check("loss < 1e-1", None, "loss", "<", 0.1, rhs="1e-1")),
        ("delta_loss <= -2", Check("delta_loss <= -2", None, "delta_loss", "<=", -2.0, rhs="-2")),
        (
            "hypothesis != Supported",
            Check(
                "hypothesis != supported", None, "hypothesis", "!=", "supported", rhs="supported"
            ),
        ),
        (
            "val:hypothesis == not_applicable",
            Check(
                "val:hypothesis == not_applicable",
                "val",
                "hypothesis",
                "==",
                "not_applicable",
                rhs="not_applicable",
            ),
        ),
        (
            "loss <= baseline.loss + 0.02",
            Check(
                "loss <= baseline.loss + 0.02",
                None,
                "loss",
                "<=",
                None,
                "loss",
                0.02,
                rhs="baseline.loss + 0.02",
            ),
        ),
        (
            "accuracy >= baseline.best_accuracy-0.01",
            Check(
                "accuracy >= baseline.best_accuracy - 0.01",
                None,
                "accuracy",
                ">=",
                None,
                "best_accuracy",
                -0.01,
                rhs="baseline.best_accuracy - 0.01",
            ),
        ),
        (
            "hypothesis == baseline.hypothesis",
            Check(
                "hypothesis == baseline.hypothesis",
                None,
                "hypothesis",
                "==",
                None,
                "hypothesis",
                rhs="baseline.hypothesis",
            ),
        ),
    ],
)
def test_parse(text, expected):
    assert parse_check(text) == expected


def test_confusion_metrics_parse_only_with_their_table():
    assert parse_check("macro_f1 >= 0.8", metrics=CONFUSION_METRICS).metric == "macro_f1"
    with pytest.raises(OptionError, match="unknown metric 'macro_f1'"):
        parse_check("macro_f1 >= 0.8")
    with pytest.raises(OptionError, match="valid metrics: accuracy, macro_f1, min_recall$"):
        parse_check("loss < 1", metrics=CONFUSION_METRICS)


SYNTAX = f"expected [SPLIT:]METRIC OP VALUE (OP: < <= > >= == !=; metrics: {METRIC_LIST})"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("acc >= 0.9", f"--check 'acc >= 0.9': unknown metric 'acc'; valid metrics: {METRIC_LIST}"),
        ("accuracy 0.9", f"--check 'accuracy 0.9': no comparison operator; {SYNTAX}"),
        (
            "accuracy = 0.9",
            "--check 'accuracy = 0.9': unknown operator '='; did you mean '=='? "
            "(operators: < <= > >= == !=)",
        ),
        (
            "accuracy => 0.9",
            "--check 'accuracy => 0.9': unknown operator '=>'; did you mean '>='? "
            "(operators: < <= > >= == !=)",
        ),
        ("loss < 1 < 2", f"--check 'loss < 1 < 2': more than one operator ('<' and '<'); {SYNTAX}"),
        (">= 1", f"--check '>= 1': no metric before '>='; {SYNTAX}"),
        ("loss <=", f"--check 'loss <=': no value after '<='; {SYNTAX}"),
        (":loss < 1", f"--check ':loss < 1': empty split name before ':'; {SYNTAX}"),
        (
            "accuracy >= x",
            f"--check 'accuracy >= x': bad value 'x' (a number or baseline.METRIC); {SYNTAX}",
        ),
        (
            "accuracy >= nan",
            f"--check 'accuracy >= nan': bad value 'nan' (a number or baseline.METRIC); {SYNTAX}",
        ),
        (
            "accuracy >= 1e999",
            f"--check 'accuracy >= 1e999': bad value '1e999' (a number or baseline.METRIC); "
            f"{SYNTAX}",
        ),
        (
            "accuracy >= supported",
            "--check 'accuracy >= supported': 'supported' is a verdict, for hypothesis only; "
            "accuracy takes a number or baseline.METRIC",
        ),
        (
            "hypothesis >= supported",
            "--check 'hypothesis >= supported': hypothesis is a verdict: use == or !=, not '>='",
        ),
        (
            "hypothesis == 1",
            "--check 'hypothesis == 1': hypothesis takes a verdict "
            "(supported, inconclusive, rejected, not_applicable) or baseline.hypothesis, not '1'",
        ),
        (
            "loss <= baseline.los",
            f"--check 'loss <= baseline.los': unknown metric 'los' in 'baseline.los'; "
            f"valid metrics: {METRIC_LIST}",
        ),
        (
            "loss <= baseline.loss + x",
            f"--check 'loss <= baseline.loss + x': bad offset 'x' (expected a number); {SYNTAX}",
        ),
        (
            "loss <= baseline.loss * 2",
            f"--check 'loss <= baseline.loss * 2': bad baseline value 'baseline.loss * 2' "
            f"(use baseline.METRIC ± NUMBER); {SYNTAX}",
        ),
        (
            "loss <= baseline.hypothesis",
            "--check 'loss <= baseline.hypothesis': cannot compare loss (number) with "
            "baseline.hypothesis (verdict)",
        ),
        (
            "hypothesis == baseline.hypothesis + 1",
            "--check 'hypothesis == baseline.hypothesis + 1': a verdict takes no + offset",
        ),
    ],
)
def test_parse_errors_name_the_bad_part(text, message):
    with pytest.raises(OptionError) as info:
        parse_check(text)
    assert info.value.for_option(PARAM_OPTIONS) == message
    assert str(info.value).startswith("check=")  # library wording: the parameter
    assert info.value.exit_code == 2


def test_baseline_value_needs_baseline_option():
    assert parse_checks(["loss < 1"]) == [parse_check("loss < 1")]
    with pytest.raises(OptionError) as info:
        parse_checks(["loss < 1", "loss <= baseline.loss + 0.1"])
    assert info.value.for_option(PARAM_OPTIONS) == (
        "--check 'loss <= baseline.loss + 0.1': uses baseline.loss but no --baseline was given"
    )
    assert parse_checks(["loss <= baseline.loss"], has_baseline=True)[0].uses_baseline


# -- comparison --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "below", "equal", "above"),
    [
        ("<", True, False, False),
        ("<=", True, True, False),
        (">", False, False, True),
        (">=", False, True, True),
        ("==", False, True, False),
        ("!=", True, False, True),
    ],
)
def test_compare_truth_table(op, below, equal, above):
    assert (compare(0.4, op, 0.5), compare(0.5, op, 0.5), compare(0.6, op, 0.5)) == (
        below,
        equal,
        above,
    )
    # n/a compares like NaN: only != holds, on either side
    assert compare(None, op, 0.5) is compare(0.5, op, None) is compare(None, op, None)
    assert compare(None, op, 0.5) is (op == "!=")
    assert compare(None, op, 0.5) is OPS[op](float("nan"), 0.5)


def test_compare_verdicts():
    assert compare("supported", "==", "supported")
    assert compare("rejected", "!=", "supported")
    assert not compare("supported", "!=", "supported")


# -- metric values against numpy ---------------------------------------------------------------


def test_metric_values_match_numpy(rising):
    report, ref = rising
    checks = [parse_check(f"{m} >= 0") for m in ref] + [parse_check("hypothesis == supported")]
    results = check_report(report, checks)
    got = {r.metric: r.value for r in results}
    for metric, expected in ref.items():
        assert got[metric] == pytest.approx(expected, rel=1e-9, abs=1e-12), metric
    assert got["hypothesis"] == "supported"
    assert ref["accuracy"] == 0.8 and ref["delta_loss"] > 0.5 and ref["ww_share"] > 0.9


def test_not_applicable_share_is_na_and_fails_except_ne(falling):
    report, ref = falling
    assert ref["ww_share"] is None and ref["delta_loss"] < 0
    checks = [parse_check(t) for t in ("ww_share < 0.5", "ww_share != 0.5", "ww_share == 0")]
    results = check_report(report, checks)
    assert [(r.value, r.passed) for r in results] == [(None, False), (None, True), (None, False)]
    hyp = check_report(report, [parse_check("hypothesis == not_applicable")])[0]
    assert (hyp.value, hyp.passed) == ("not_applicable", True)
    loss = check_report(report, [parse_check("delta_loss < 0")])[0]
    assert loss.value == pytest.approx(ref["delta_loss"], rel=1e-9) and loss.passed


def test_one_epoch_has_no_delta(tmp_path):
    logits, y = rising_logits(n_epochs=1)
    report = analyze_run(load_run(str(save(tmp_path / "one", logits, y))))
    checks = [parse_check(t) for t in ("delta_loss < 1", "hypothesis == not_applicable")]
    checks.append(parse_check("accuracy == 0.8"))
    results = check_report(report, checks)
    assert [(r.value, r.passed) for r in results] == [
        (None, False),
        ("not_applicable", True),
        (0.8, True),
    ]


# -- evaluation with splits and baselines -----------------------------------------------------

CURRENT = {
    "test": {"loss": 0.5, "accuracy": 0.9, "hypothesis": "rejected"},
    "train": {"loss": 0.1, "accuracy": 0.99, "hypothesis": "not_applicable"},
}


def test_bare_metric_applies_to_every_split_and_qualifier_to_one():
    results = evaluate([parse_check("accuracy >= 0.95"), parse_check("test:loss < 0.6")], CURRENT)
    assert [(r.expression, r.split, r.value, r.threshold, r.passed) for r in results] == [
        ("accuracy >= 0.95", "test", 0.9, 0.95, False),
        ("accuracy >= 0.95", "train", 0.99, 0.95, True),
        ("test:loss < 0.6", "test", 0.5, 0.6, True),
    ]


def test_unknown_split_is_a_usage_error():
    with pytest.raises(OptionError) as info:
        evaluate([parse_check("val:loss < 1")], CURRENT, source="runs/a")
    assert (
        info.value.for_option(PARAM_OPTIONS)
        == "--check 'val:loss < 1': no split 'val' in runs/a (splits: test, train)"
    )


@pytest.mark.parametrize(
    ("text", "threshold", "passed"),
    [
        ("test:loss <= baseline.loss", 0.45, False),
        ("test:loss <= baseline.loss + 0.1", 0.45 + 0.1, True),
        ("test:loss < baseline.loss - 0.05", 0.45 - 0.05, False),
        ("test:loss > baseline.loss - 0.05", 0.45 - 0.05, True),
        ("test:accuracy == baseline.accuracy", 0.9, True),
        ("test:accuracy != baseline.accuracy", 0.9, False),
        ("test:accuracy >= baseline.best_accuracy - 0.01", 0.93 - 0.01, False),
        ("test:hypothesis == baseline.hypothesis", "supported", False),
        ("test:hypothesis != baseline.hypothesis", "supported", True),
    ],
)
def test_baseline_offsets(text, threshold, passed):
    base = Baseline(
        "base.json",
        "predaudit.analyze/1",
        {"test": {"loss": 0.45, "accuracy": 0.9, "best_accuracy": 0.93, "hypothesis": "supported"}},
    )
    (r,) = evaluate([parse_check(text)], CURRENT, baseline=base)
    assert r.threshold == threshold
    assert r.passed is passed
    assert r.baseline_split == "test"


def test_baseline_splits_match_by_name_or_when_both_have_one():
    only = {"test": CURRENT["test"]}
    base = Baseline("b.json", "predaudit.analyze/1", {"default": {"loss": 0.7}})
    (r,) = evaluate([parse_check("loss < baseline.loss")], only, baseline=base)
    assert (r.baseline_split, r.threshold, r.passed) == ("default", 0.7, True)
    with pytest.raises(InputError) as info:
        evaluate([parse_check("loss < baseline.loss")], CURRENT, baseline=base)
    assert str(info.value) == (
        "b.json: baseline has no split 'test' to compare with (its splits: default)"
    )
    assert info.value.exit_code == 3


def test_na_baseline_value():
    base = Baseline("b.json", "predaudit.analyze/1", {"test": {"loss": None}})
    only = {"test": CURRENT["test"]}
    results = evaluate(
        [parse_check("loss <= baseline.loss + 1"), parse_check("loss != baseline.loss")],
        only,
        baseline=base,
    )
    assert [(r.threshold, r.passed) for r in results] == [(None, False), (None, True)]


# -- loading baselines ---------------------------------------------------------------------------


def test_baseline_round_trip_from_json_report(rising, tmp_path):
    from predaudit.render import to_json

    report, ref = rising
    path = tmp_path / "report.json"
    path.write_text(to_json(CheckedReport(report, [])), encoding="utf-8")
    base = load_baseline(path)
    assert set(base.splits) == {"default"}
    for metric, value in ref.items():
        assert base.splits["default"][metric] == pytest.approx(value, rel=1e-12)
    # a JSON round trip is exact: the run equals its own baseline
    checks = parse_checks([f"{m} == baseline.{m}" for m in ANALYZE_METRICS], has_baseline=True)
    assert all(r.passed for r in check_report(report, checks, baseline=base))
    # an --out folder holding report.json works too
    assert load_baseline(tmp_path).splits == base.splits


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "does not exist"),
        ("nope", "not valid JSON (Expecting value at line 1, column 1)"),
        (
            "[1, 2]",
            'not a predaudit report (expected a JSON object with "schema": "predaudit.analyze/1")',
        ),
        (
            '{"splits": {}}',
            'not a predaudit report (expected a JSON object with "schema": "predaudit.analyze/1")',
        ),
        (
            '{"schema": "predaudit.inspect/1"}',
            "is a predaudit.inspect/1 report; expected predaudit.analyze/1",
        ),
        (
            '{"schema": "predaudit.analyze/1", "splits": {"a": {}}}',
            "not a valid predaudit.analyze/1 report: splits.a.per_epoch is missing",
        ),
        (
            '{"schema": "predaudit.analyze/1", "splits": {"a": {"per_epoch": '
            '[{"epoch": 1, "loss": "x", "accuracy": 1}]}}}',
            "not a valid predaudit.analyze/1 report: splits.a.per_epoch[0].loss is not a number",
        ),
        (b"\xff\xfe", "not valid JSON (not UTF-8 text)"),
    ],
)
def test_bad_baselines_are_input_errors_naming_the_file(tmp_path, content, problem):
    path = tmp_path / "base.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_baseline(path)
    assert str(info.value) == f"{path}: {problem}"
    assert info.value.exit_code == 3


def test_folder_without_report(tmp_path):
    with pytest.raises(InputError, match="is a folder without report.json"):
        load_baseline(tmp_path)


def test_confusion_metrics_from_dict():
    report = {
        "split": "test",
        "accuracy": 0.75,
        "macro": {"precision": 0.7, "recall": 0.6, "f1": 0.65},
        "per_class": [
            {"label": 0, "recall": 0.9, "support": 10},
            {"label": 1, "recall": 0.3, "support": 5},
            {"label": 2, "recall": 0.0, "support": 0},
        ],
    }
    assert confusion_metrics(report) == {"accuracy": 0.75, "macro_f1": 0.65, "min_recall": 0.3}
    one = {k: v for k, v in report.items() if k != "split"}
    single = {"schema": "predaudit.confusion/1", "run": "r", "splits": {"test": report}}
    several = {"schema": "predaudit.confusion/1", "splits": {"a": one, "b": one}}
    assert report_metrics(single) == {"test": confusion_metrics(report)}
    with pytest.raises(Exception, match=r"^no 'splits' field$"):  # the old flat shape is gone
        report_metrics({"schema": "predaudit.confusion/1", **report})
    assert report_metrics(several) == dict.fromkeys(("a", "b"), confusion_metrics(report))
    del one["macro"]
    with pytest.raises(Exception, match=r"^splits\.a\.macro is missing$"):
        report_metrics(several)


def test_summary_names_the_split_only_for_a_bare_check():
    r = CheckResult("test:loss < 1", "test", "loss", 2.0, "<", 1.0, False)
    assert summary_line([r]) == "1 of 1 check failed: test:loss < 1 (value 2)."


# -- result objects and renderers ----------------------------------------------------------------

RESULTS = [
    CheckResult("accuracy >= 0.9", "test", "accuracy", 0.912345678, ">=", 0.9, True),
    CheckResult("ww_share < 0.5", "test", "ww_share", None, "<", 0.5, False),
    CheckResult(
        "hypothesis != baseline.hypothesis",
        "test",
        "hypothesis",
        "supported",
        "!=",
        "supported",
        False,
        baseline_split="default",
        baseline_value="supported",
    ),
]


def test_result_to_dict_fields():
    assert RESULTS[0].to_dict() == {
        "expression": "accuracy >= 0.9",
        "split": "test",
        "metric": "accuracy",
        "value": 0.912345678,
        "op": ">=",
        "threshold": 0.9,
        "passed": True,
        "baseline_split": None,
        "baseline_value": None,
    }


def test_checked_report_adds_checks_only(rising):
    report, _ = rising
    d = CheckedReport(report, RESULTS[:1]).to_dict()
    assert d == {**report.to_dict(), "checks": [RESULTS[0].to_dict()]}
    assert list(d)[-1] == "checks"


def test_csv():
    assert checks_csv(RESULTS) == (
        "expression,split,metric,value,op,threshold,passed\n"
        "accuracy >= 0.9,test,accuracy,0.912345678,>=,0.9,true\n"
        "ww_share < 0.5,test,ww_share,,<,0.5,false\n"
        "hypothesis != baseline.hypothesis,test,hypothesis,supported,!=,supported,false\n"
    )


def test_summary_and_values():
    assert fmt_value(None) == "n/a" and fmt_value(0.912345678) == "0.912346"
    assert summary_line(RESULTS[:1]) == "The check passed."
    assert summary_line(RESULTS[:1] * 2) == "All 2 checks passed."
    assert summary_line(RESULTS) == "2 of 3 checks failed: ww_share < 0.5 on test (value n/a)."


def test_markdown_table():
    assert checks_markdown(RESULTS).splitlines() == [
        "| check | split | value | threshold | result |",
        "| --- | --- | ---: | ---: | --- |",
        "| `accuracy >= 0.9` | test | 0.912346 | 0.9 | ✅ pass |",
        "| `ww_share < 0.5` | test | n/a | 0.5 | ❌ **FAIL** |",
        "| `hypothesis != baseline.hypothesis` | test | supported | supported | ❌ **FAIL** |",
    ]


def test_rich_table_plain_capture():
    console = Console(width=80, record=True, color_system=None, file=io.StringIO())
    console.print(checks_table(RESULTS))
    text = console.export_text()
    assert "\x1b" not in text
    lines = text.splitlines()
    assert lines[0].strip() == "Checks"
    assert any("ww_share < 0.5" in line and "n/a" in line and "FAIL" in line for line in lines)
    assert lines[-1] == "2 of 3 checks failed: ww_share < 0.5 on test (value n/a)."


def test_key_metrics_markdown_with_baseline(rising):
    report, ref = rising
    base = Baseline("b.json", "predaudit.analyze/1", {"x": dict.fromkeys(ANALYZE_METRICS)})
    lines = key_metrics_markdown(report, base).splitlines()
    assert lines[0] == "| metric | value | baseline |"
    assert lines[2] == f"| loss | {ref['loss']:.6g} | n/a |"
    assert lines[-1] == "| hypothesis | supported | n/a |"


def test_every_metric_is_documented():
    root = Path(__file__).resolve().parents[2]
    doc = "".join(
        p.read_text(encoding="utf-8")
        for p in (root / "docs" / "ci.md", root / "README.md")
        if p.is_file()
    )
    for m in [*ANALYZE_METRICS, *CONFUSION_METRICS]:
        assert f"| `{m}` |" in doc, m
