"""Every ``--format json`` output validates against its JSON Schema in ``docs/schema``.

The schemas are strict (``additionalProperties: false`` and full ``required`` lists
at every object level), so these tests also catch a field that appears, disappears
or changes type without the schema being updated. The outputs come from the real
CLI on the sample run, on the accepted edge cases in ``tests/assets/ok`` and on
small runs built here (binary, probabilities with string ids, log-probabilities
with ignored samples, soft and one-hot labels, one epoch, overflowing losses).
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DIR = ROOT / "docs" / "schema"
SAMPLE = ROOT / "sample_data"
STACKED = SAMPLE / "stacked"
OK = Path(__file__).resolve().parent / "assets" / "ok"
SCHEMA_FILES = {
    "analyze": "analyze.schema.json",
    "calibration": "calibration.schema.json",
    "confusion": "confusion.schema.json",
    "inspect": "inspect.schema.json",
    "dynamics": "dynamics.schema.json",
}
SCHEMA_IDS = {
    "analyze": "predaudit.analyze/1",
    "calibration": "predaudit.calibration/1",
    "confusion": "predaudit.confusion/1",
    "inspect": "predaudit.inspect/1",
    "dynamics": "predaudit.dynamics/1",
}
# Fields that are present only under a condition; every other property is required.
OPTIONAL = {"checks", "top", "matrix_normalized", "matrix", "matrix_cells", "normalized", "diff",
            "sequence", "position"}  # fmt: skip
NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


@cache
def schema(command: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / SCHEMA_FILES[command]).read_text(encoding="utf-8"))


@cache
def validator(command: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema(command))


def errors(command: str, doc: Any) -> list[str]:
    """Every validation error, including those inside ``oneOf`` branches (``e.context``)."""
    out: list[str] = []
    todo = list(validator(command).iter_errors(doc))
    while todo:
        e = todo.pop(0)
        out.append(f"{e.json_path}: {e.message}")
        todo.extend(e.context)
    return out


def assert_valid(command: str, doc: Any) -> None:
    problems = errors(command, doc)
    assert not problems, "\n".join(problems[:10])


def run_json(*args: str, code: int = 0) -> dict[str, Any]:
    """Run the CLI in-process and parse its stdout as JSON."""
    from click.testing import CliRunner

    from predaudit.cli import main

    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exit_code == code, (res.exit_code, res.stderr, res.exception)
    return json.loads(res.stdout)


def nested(doc: dict[str, Any]) -> dict[str, Any]:
    """A confusion report, which is nested under "splits" for one split as for several."""
    assert "splits" in doc
    return doc


# -- small runs ---------------------------------------------------------------------------


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small runs covering the input kinds, label formats and id types."""
    root = tmp_path_factory.mktemp("schema-runs")
    rng = np.random.default_rng(7)
    out: dict[str, Path] = {}

    def folder(name: str) -> Path:
        out[name] = root / name
        out[name].mkdir()
        return out[name]

    # binary: one sigmoid probability per sample, stacked [E, N]
    n, e = 40, 4
    y2 = rng.integers(0, 2, n)
    p = np.clip(
        0.5 + (y2 - 0.5) * np.linspace(0.2, 0.9, e)[:, None] + rng.normal(0, 0.3, (e, n)), 0, 1
    )
    p[-1, :3] = 1.0 - y2[:3]  # confidently wrong: p(y) = 0, floored
    d = folder("binary_probs")
    np.save(d / "probs.npy", p)
    np.save(d / "labels.npy", y2)
    # binary logits, loss rising: a single score per sample outside [0, 1]
    s = (y2 * 2 - 1) * rng.normal(1, 1, (e, n)) * np.linspace(1, -2, e)[:, None]
    d = folder("binary_logits")
    np.save(d / "test_logits.npy", s)
    np.save(d / "test_labels.npy", y2)
    # probabilities per epoch with string ids, rows shuffled per file
    n, c = 30, 4
    y = rng.integers(0, c, n)
    ids = np.array([f"s{i:03d}" for i in range(n)])
    d = folder("probs_string_ids")
    for epoch in range(1, 4):
        z = rng.normal(0, 1, (n, c))
        z[np.arange(n), y] += 2.5 - epoch
        order = rng.permutation(n)
        np.savez(
            d / f"epoch_{epoch}.npz", probs=_softmax(z)[order], labels=y[order], ids=ids[order]
        )
    # log-probabilities with ignored samples (-100) and integer ids
    d = folder("log_probs_ignored")
    yi = y.copy()
    yi[:5] = -100
    for epoch in (2, 5, 9):
        z = rng.normal(0, 1, (n, c))
        z[np.arange(n), y] += 3 - epoch / 3
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        np.savez(d / f"epoch_{epoch}.npz", log_probs=logp, labels=yi, ids=np.arange(100, 100 + n))
    # soft and one-hot targets
    z = rng.normal(0, 1, (3, n, c))
    soft = _softmax(rng.normal(0, 1, (n, c)) + 3 * np.eye(c)[y])
    d = folder("soft_labels")
    np.save(d / "logits.npy", z.astype(np.float32))
    np.save(d / "labels.npy", soft)
    d = folder("one_hot_labels")
    np.save(d / "logits.npy", z.astype(np.float16))
    np.save(d / "labels.npy", np.eye(c)[y])
    # one epoch only
    d = folder("one_epoch")
    np.save(d / "logits.npy", rng.normal(0, 1, (1, n, c)))
    np.save(d / "labels.npy", y)
    # float64 logits whose losses overflow to inf: written as null
    big = np.zeros((2, 4, 3))
    big[:, :, 0], big[:, :, 1] = 1e308, -1e308
    big[1, 0, 0] = 0.0
    d = folder("overflow")
    np.save(d / "logits.npy", big)
    np.save(d / "labels.npy", np.array([1, 1, 0, 2]))
    return out


@pytest.fixture(scope="module")
def baselines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """JSON reports of the sample run, written as a CI job would keep them."""
    root = tmp_path_factory.mktemp("schema-baselines")
    out = {}
    for command in ("analyze", "confusion"):
        path = root / f"{command}.json"
        path.write_text(json.dumps(run_json(command, STACKED, "--format", "json")))
        out[command] = path
    return out


@pytest.fixture(scope="module")
def class_names(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("schema-names") / "names.txt"
    path.write_text("\n".join(NAMES) + "\n", encoding="utf-8")
    return path


# -- the schema files ---------------------------------------------------------------------


def test_every_schema_file_is_covered():
    """A schema file per registered command, and none for a command that does not exist."""
    from predaudit.registry import COMMANDS

    names = {p.name for p in SCHEMA_DIR.glob("*.json")}
    assert set(SCHEMA_FILES.values()) <= names
    assert {f"{c}.schema.json" for c in COMMANDS} <= names


@pytest.mark.parametrize("command", sorted(SCHEMA_FILES))
def test_schema_is_valid_draft_2020_12(command):
    s = schema(command)
    jsonschema.Draft202012Validator.check_schema(s)
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert s["$id"] == f"https://predaudit.invalid/schema/{command}-1.json"
    assert s["properties"]["schema"] == {"const": SCHEMA_IDS[command]}


def _object_schemas(node: Any, where: str = "$"):
    if isinstance(node, dict):
        if "properties" in node and node.get("type") == "object":
            yield where, node
        for k, v in node.items():
            yield from _object_schemas(v, f"{where}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _object_schemas(v, f"{where}[{i}]")


@pytest.mark.parametrize("command", sorted(SCHEMA_FILES))
def test_schema_is_strict_at_every_object_level(command):
    """No unknown field anywhere; every field is required unless it is conditional."""
    found = list(_object_schemas(schema(command)))
    assert len(found) >= 2
    for where, node in found:
        assert node.get("additionalProperties") is False, where
        expected = set(node["properties"]) - OPTIONAL
        assert set(node.get("required", [])) == expected, where


# -- analyze ------------------------------------------------------------------------------


ANALYZE_CASES = {
    "sample": ([STACKED], 0),
    "sample_one_split_top": ([STACKED, "--split", "test", "--top", "3"], 0),
    "sample_check": ([STACKED, "--top", "3", "--check", "accuracy >= 0.5"], 0),
    "sample_checks_failing": (
        [STACKED, "--check", "hypothesis != supported", "--check", "test:ww_share < 0.5"],
        1,
    ),
    "per_epoch_ids_from_to": (
        [SAMPLE / "per_epoch", "--from", "1", "--to", "best", "--top", "2"],
        0,
    ),
    "unaligned": ([OK / "unaligned_no_ids", "--top", "2", "--check", "ww_share != 1"], 0),
    "neg_inf_masked": ([OK / "neg_inf_masked", "--top", "5", "--alpha", "0.1"], 0),
}


@pytest.mark.parametrize("case", sorted(ANALYZE_CASES))
def test_analyze_json_valid(case):
    args, code = ANALYZE_CASES[case]
    doc = run_json("analyze", *args, "--format", "json", code=code)
    assert_valid("analyze", doc)
    assert ("checks" in doc) == ("--check" in args)
    for split in doc["splits"].values():
        assert ("top" in split) == ("--top" in args and split["aligned"])


def test_analyze_unaligned_has_no_transitions():
    doc = run_json("analyze", OK / "unaligned_no_ids", "--format", "json")
    split = doc["splits"]["default"]
    assert split["comparison"]["transitions"] is None
    assert split["hypothesis"]["verdict"] == "not_applicable"
    assert_valid("analyze", doc)


@pytest.mark.parametrize(
    "run",
    [
        "binary_probs",
        "binary_logits",
        "probs_string_ids",
        "log_probs_ignored",
        "soft_labels",
        "one_hot_labels",
    ],
)
def test_analyze_json_valid_on_small_runs(runs, run):
    doc = run_json("analyze", runs[run], "--format", "json", "--top", "4")
    assert_valid("analyze", doc)


def test_analyze_string_ids_and_kinds(runs):
    """The id of a top sample is a string when the run saved string ids."""
    doc = run_json("analyze", runs["probs_string_ids"], "--format", "json", "--top", "2")
    split = doc["splits"]["default"]
    assert split["input_kind"] == "probs"
    assert all(isinstance(t["id"], str) for t in split["top"])
    doc = run_json("analyze", runs["log_probs_ignored"], "--format", "json")
    split = doc["splits"]["default"]
    assert (split["input_kind"], split["n_ignored"]) == ("log_probs", 5)


def test_analyze_one_epoch(runs):
    doc = run_json(
        "analyze", runs["one_epoch"], "--format", "json", "--check", "delta_loss < 1", code=1
    )
    assert_valid("analyze", doc)
    split = doc["splits"]["default"]
    assert split["comparison"] is None and split["hypothesis"] is None
    assert isinstance(split["note"], str)
    assert doc["checks"][0]["value"] is None  # n/a


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_analyze_overflowing_losses_are_null(runs):
    doc = run_json("analyze", runs["overflow"], "--format", "json", "--top", "2")
    assert_valid("analyze", doc)
    assert doc["splits"]["default"]["per_epoch"][0]["loss"] is None


@pytest.mark.parametrize(
    "checks",
    [
        ["accuracy >= baseline.accuracy - 0.01", "loss <= baseline.loss + 0.02"],
        ["hypothesis == baseline.hypothesis", "test:delta_loss <= baseline.delta_loss"],
    ],
)
def test_analyze_checks_with_baseline(baselines, checks):
    args = [a for c in checks for a in ("--check", c)]
    doc = run_json(
        "analyze", STACKED, "--format", "json", "--baseline", baselines["analyze"], *args
    )
    assert_valid("analyze", doc)
    assert all(r["baseline_split"] in doc["splits"] for r in doc["checks"])


def test_analyze_out_report_json(tmp_path):
    run_json("analyze", STACKED, "--format", "json", "--out", tmp_path / "out", "--no-plots")
    assert_valid("analyze", json.loads((tmp_path / "out" / "report.json").read_text()))


# -- confusion ----------------------------------------------------------------------------


CONFUSION_CASES = {
    "sample": [STACKED],
    "sample_diff_normalize": [STACKED, "--diff", "first", "last", "--normalize", "true"],
    "sample_epoch_top": [STACKED, "--epoch", "best", "--top", "2", "--normalize", "all"],
    "per_epoch_diff_pred": [SAMPLE / "per_epoch", "--diff", "7", "last", "--normalize", "pred"],
}


@pytest.mark.parametrize("case", sorted(CONFUSION_CASES))
def test_confusion_json_valid_several_splits(case):
    doc = run_json("confusion", *CONFUSION_CASES[case], "--format", "json")
    assert len(doc["splits"]) > 1
    assert_valid("confusion", doc)
    for name, split in doc["splits"].items():
        assert split["split"] == name
        assert ("diff" in split) == ("--diff" in CONFUSION_CASES[case])


def test_confusion_class_names_and_checks(class_names, baselines):
    doc = run_json(
        "confusion",
        STACKED,
        "--format",
        "json",
        "--class-names",
        class_names,
        "--diff",
        "1",
        "30",
        "--check",
        "min_recall >= 0.5",
        "--check",
        "test:macro_f1 >= baseline.macro_f1 - 0.01",
        "--baseline",
        baselines["confusion"],
    )
    assert_valid("confusion", doc)
    split = doc["splits"]["test"]
    assert split["labels"] == NAMES
    assert all(isinstance(c["true"], str) for c in split["top_confusions"])
    assert [r["metric"] for r in doc["checks"]] == ["min_recall", "min_recall", "macro_f1"]


def test_confusion_failing_check_still_valid():
    doc = run_json("confusion", STACKED, "--format", "json", "--check", "accuracy > 0.99", code=1)
    assert_valid("confusion", doc)


@pytest.mark.parametrize(
    "args",
    [
        [STACKED, "--split", "test"],
        [STACKED, "--split", "test", "--diff", "first", "last", "--normalize", "true"],
    ],
)
def test_confusion_single_split_is_nested(args):
    assert_valid("confusion", run_json("confusion", *args, "--format", "json"))


@pytest.mark.parametrize(
    "args",
    [
        [STACKED, "--split", "test", "--diff", "first", "last", "--normalize", "true"],
        [STACKED, "--split", "train", "--top", "0", "--check", "accuracy >= 0.5"],
        [OK / "unaligned_no_ids", "--diff", "1", "2"],
        [OK / "neg_inf_masked", "--normalize", "pred"],
    ],
)
def test_confusion_single_split_object_valid(args):
    """The per-split object is right today, whichever shape the report has."""
    doc = nested(run_json("confusion", *args, "--format", "json"))
    assert_valid("confusion", doc)


@pytest.mark.parametrize(
    "run", ["binary_probs", "binary_logits", "probs_string_ids", "log_probs_ignored", "soft_labels"]
)
def test_confusion_small_runs(runs, run):
    doc = nested(run_json("confusion", runs[run], "--format", "json", "--diff", "first", "last"))
    assert_valid("confusion", doc)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_confusion_overflowing_losses_are_null(runs):
    doc = nested(run_json("confusion", runs["overflow"], "--format", "json", "--diff", "1", "2"))
    assert_valid("confusion", doc)
    assert doc["splits"]["default"]["loss"] is None


def test_confusion_out_json(tmp_path):
    out = tmp_path / "out"
    run_json("confusion", STACKED, "--format", "json", "--out", out, "--no-plots")
    assert_valid("confusion", json.loads((out / "confusion.json").read_text()))


# -- inspect ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        [STACKED],
        [STACKED, "--split", "train"],
        [SAMPLE / "per_epoch"],
        [OK / "unaligned_no_ids"],
        [OK / "neg_inf_masked", "--input-kind", "logits"],
    ],
)
def test_inspect_json_valid(args):
    assert_valid("inspect", run_json("inspect", *args, "--format", "json"))


def test_inspect_small_runs(runs):
    kinds, formats = set(), set()
    for name in sorted(runs):
        doc = run_json("inspect", runs[name], "--format", "json")
        assert_valid("inspect", doc)
        for split in doc["splits"].values():
            kinds.add(split["input_kind"])
            formats.add(split["label_format"])
    assert kinds == {"logits", "probs", "log_probs"}
    assert formats == {"index", "one_hot", "soft"}
    binary = run_json("inspect", runs["binary_probs"], "--format", "json")["splits"]["default"]
    assert (binary["n_classes"], binary["input_kind"]) == (2, "probs")
    # exact losses (issue 11, point 7): p(y) = 0 is floored and counted, nothing is clipped
    assert binary["n_floored"] >= 3 and (binary["n_clipped"], binary["clip"]) == (0, None)


# -- the schemas reject what they should ----------------------------------------------------


@pytest.fixture(scope="module")
def real() -> dict[str, dict[str, Any]]:
    """One real, valid output per command, with every optional part present."""
    docs = {
        "analyze": run_json(
            "analyze", STACKED, "--format", "json", "--top", "2", "--check", "loss < 9"
        ),
        "confusion": run_json(
            "confusion",
            STACKED,
            "--format",
            "json",
            "--diff",
            "first",
            "last",
            "--normalize",
            "true",
            "--check",
            "accuracy > 0.5",
        ),
        "inspect": run_json("inspect", STACKED, "--format", "json"),
    }
    for command, doc in docs.items():
        assert_valid(command, doc)
    return docs


# (command, path to an object in the output, one of its keys)
FIELDS = [
    ("analyze", [], "run"),
    ("analyze", ["splits", "test"], "note"),
    ("analyze", ["splits", "test", "per_epoch", 3], "loss_wrong"),
    ("analyze", ["splits", "test", "comparison"], "transitions_reason"),
    ("analyze", ["splits", "test", "comparison", "transitions", "wrong_to_wrong"], "mean_delta"),
    ("analyze", ["splits", "test", "comparison", "shift_share"], "composition"),
    ("analyze", ["splits", "test", "hypothesis"], "ci95"),
    ("analyze", ["splits", "test", "top", 0], "p_true_to"),
    ("analyze", ["checks", 0], "baseline_value"),
    ("confusion", [], "schema"),
    ("confusion", ["splits", "train"], "normalize"),
    ("confusion", ["splits", "train", "per_class", 2], "mean_loss"),
    ("confusion", ["splits", "train", "macro"], "f1"),
    ("confusion", ["splits", "test", "top_confusions", 0], "share_of_true"),
    ("confusion", ["splits", "test", "diff"], "delta_loss"),
    ("confusion", ["splits", "test", "diff", "per_class", 0], "delta_contribution"),
    ("confusion", ["checks", 1], "passed"),
    ("inspect", [], "splits"),
    ("inspect", ["splits", "test"], "files"),
]


def _at(doc: Any, path: list[Any]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


@pytest.mark.parametrize(("command", "path", "key"), FIELDS)
def test_missing_required_field_fails(real, command, path, key):
    doc = copy.deepcopy(real[command])
    del _at(doc, path)[key]
    assert any("is a required property" in e for e in errors(command, doc))


@pytest.mark.parametrize(("command", "path", "key"), FIELDS)
def test_unknown_field_fails(real, command, path, key):
    doc = copy.deepcopy(real[command])
    _at(doc, path)["unexpected_field"] = 0
    assert any("unexpected_field" in e for e in errors(command, doc))


@pytest.mark.parametrize(
    ("command", "path", "key", "value"),
    [
        ("analyze", ["splits", "test", "hypothesis"], "verdict", "maybe"),
        ("analyze", ["splits", "test"], "input_kind", "softmax"),
        ("analyze", ["splits", "test", "comparison"], "from_reason", "lowest"),
        ("analyze", ["splits", "test", "hypothesis"], "driver", "wrong_to_worse"),
        ("analyze", ["splits", "test", "per_epoch", 0], "n_correct", 3.5),
        ("analyze", ["splits", "test", "per_epoch", 0], "accuracy", None),
        ("analyze", [], "schema", "predaudit.analyze/2"),
        ("confusion", ["splits", "test"], "normalize", "none"),  # matrix_normalized is there
        ("confusion", ["splits", "test", "matrix", 0], 0, -1),
        ("inspect", ["splits", "test"], "label_format", "multi_hot"),
        ("inspect", ["splits", "test"], "aligned", "yes"),
    ],
)
def test_wrong_value_fails(real, command, path, key, value):
    doc = copy.deepcopy(real[command])
    _at(doc, path)[key] = value
    assert errors(command, doc)


def test_inconclusive_verdict_is_accepted(real):
    """``inconclusive`` is being added as a verdict: the schema already allows it."""
    doc = copy.deepcopy(real["analyze"])
    doc["splits"]["test"]["hypothesis"]["verdict"] = "inconclusive"
    assert_valid("analyze", doc)


def test_flattened_single_split_confusion_fails(real):
    """The old flattened shape is not the schema's: only the nested one is."""
    doc = copy.deepcopy(real["confusion"])
    flat = {"schema": doc["schema"], "run": doc["run"], **doc["splits"]["test"]}
    assert errors("confusion", flat)
