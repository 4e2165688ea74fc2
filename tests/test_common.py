"""Every registered analysis through the same invariants (in the manner of scikit-learn's
``test_common.py``): a new registry entry is checked here without a line of new test code.

- shuffling the samples together with their ids changes nothing;
- the same run saved stacked and as per-epoch files gives the same report;
- samples labelled -100 are left out: adding them changes nothing but the counts;
- the JSON form round-trips, validates against the command's schema in docs/schema/,
  and gives the same ``--check`` metrics read back as a baseline;
- ``from_arrays`` and reading files give identical reports.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

import predaudit
from predaudit.registry import COMMANDS
from predaudit.render.json import to_json

ROOT = Path(__file__).resolve().parents[1]
OPTIONS: dict[str, dict[str, Any]] = {
    "analyze": {"top": 5},
    "confusion": {"diff": ("first", "last")},
}
"""Options that make each analysis show all of its parts."""
FILE_FIELDS = {"run", "files", "pattern"}
"""Fields that say where the data came from, not what it says."""
COUNT_FIELDS = {"n_ignored"}


def load_options(name: str) -> dict[str, Any]:
    """How the run must be loaded for this analysis (temperatures for calibration)."""
    return {"calibration": True} if COMMANDS[name].load_calibration else {}


def report_of(name: str, run: predaudit.RunStats) -> Any:
    return COMMANDS[name].analyze()(run, **OPTIONS.get(name, {}))


def plain(report: Any, drop: set[str] = FILE_FIELDS) -> Any:
    """The JSON form without the fields in ``drop`` (at any depth)."""

    def walk(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: walk(v) for k, v in x.items() if k not in drop}
        if isinstance(x, list):
            return [walk(v) for v in x]
        return x

    return walk(json.loads(to_json(report)))


def assert_same(a: Any, b: Any, path: str = "") -> None:
    """Equal structures; floats equal to 1e-12 relative (sums taken in another order)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), (path, set(a) ^ set(b))
        for k in a:
            assert_same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15), (path, a, b)
    else:
        assert a == b, (path, a, b)


def make_run(seed: int = 0, n: int = 300, c: int = 5, e: int = 6) -> dict[str, np.ndarray]:
    """Logits that sharpen with the epoch (some wrong samples get more wrong), ids, labels."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    base = rng.normal(size=(n, c))
    base[np.arange(n), y] += 1.5
    flip = rng.random(n) < 0.1
    base[flip, (y[flip] + 1) % c] += 3.0  # confidently wrong samples
    logits = np.stack([base * (0.5 + 0.4 * k) + 0.3 * rng.normal(size=(n, c)) for k in range(e)])
    ids = rng.permutation(10 * n)[:n] + 1000
    return {"logits": logits.astype(np.float32), "labels": y, "ids": ids}


COMMAND_NAMES = list(COMMANDS)


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    return make_run()


@pytest.mark.parametrize("name", COMMAND_NAMES)
def test_shuffling_samples_with_their_ids_changes_nothing(name, data):
    run = predaudit.from_arrays(
        data["logits"], data["labels"], ids=data["ids"], **load_options(name)
    )
    rng = np.random.default_rng(1)
    per_epoch = []
    for k in range(data["logits"].shape[0]):  # every epoch in its own order
        order = rng.permutation(data["labels"].shape[0])
        per_epoch.append((data["logits"][k][order], data["labels"][order], data["ids"][order]))
    shuffled = predaudit.from_arrays(
        [s for s, _, _ in per_epoch],
        [y for _, y, _ in per_epoch],
        ids=[i for _, _, i in per_epoch],
        **load_options(name),
    )
    assert_same(plain(report_of(name, run)), plain(report_of(name, shuffled)))


@pytest.mark.parametrize("name", COMMAND_NAMES)
def test_stacked_and_per_epoch_files_give_the_same_report(name, data, tmp_path):
    stacked = tmp_path / "stacked"
    stacked.mkdir()
    order = np.argsort(data["ids"])  # stacked rows in id order, as a reader canonicalises
    np.save(stacked / "logits.npy", data["logits"][:, order])
    np.save(stacked / "labels.npy", data["labels"][order])
    np.save(stacked / "ids.npy", data["ids"][order])
    per_epoch = tmp_path / "per_epoch"
    per_epoch.mkdir()
    rng = np.random.default_rng(2)
    for k in range(data["logits"].shape[0]):
        o = rng.permutation(data["labels"].shape[0])
        np.savez(
            per_epoch / f"epoch_{k + 1:03d}.npz",
            logits=data["logits"][k][o],
            labels=data["labels"][o],
            ids=data["ids"][o],
        )
    a = report_of(name, predaudit.load_run(stacked, **load_options(name)))
    b = report_of(name, predaudit.load_run(per_epoch, **load_options(name)))
    assert_same(plain(a), plain(b))


@pytest.mark.parametrize("name", COMMAND_NAMES)
def test_ignored_samples_are_left_out(name, data):
    run = predaudit.from_arrays(
        data["logits"], data["labels"], ids=data["ids"], **load_options(name)
    )
    rng = np.random.default_rng(3)
    extra = 40
    e, _, c = data["logits"].shape
    noise = rng.normal(scale=50.0, size=(e, extra, c)).astype(np.float32)  # would dominate
    logits = np.concatenate([data["logits"], noise], axis=1)
    labels = np.concatenate([data["labels"], np.full(extra, -100)])
    ids = np.concatenate([data["ids"], np.arange(extra) + 1])
    with_ignored = predaudit.from_arrays(logits, labels, ids=ids, **load_options(name))
    a = plain(report_of(name, run), FILE_FIELDS | COUNT_FIELDS)
    b = plain(report_of(name, with_ignored), FILE_FIELDS | COUNT_FIELDS)
    assert_same(a, b)
    counts = [v for k, v in _walk_items(json.loads(to_json(report_of(name, with_ignored))))
              if k == "n_ignored"]  # fmt: skip
    assert counts and all(v == extra for v in counts)


def _walk_items(x: Any) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    if isinstance(x, dict):
        for k, v in x.items():
            out.append((k, v))
            out.extend(_walk_items(v))
    elif isinstance(x, list):
        for v in x:
            out.extend(_walk_items(v))
    return out


@pytest.mark.parametrize("name", COMMAND_NAMES)
def test_json_round_trips_validates_and_gives_the_same_metrics(name, data):
    command = COMMANDS[name]
    report = report_of(
        name,
        predaudit.from_arrays(
            data["logits"], data["labels"], ids=data["ids"], **load_options(name)
        ),
    )
    assert report.SCHEMA == command.schema
    doc = json.loads(to_json(report))
    assert doc["schema"] == command.schema
    schema = json.loads((ROOT / "docs" / "schema" / f"{name}.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(doc)
    assert json.loads(json.dumps(doc)) == doc
    assert set(command.metrics) == set(next(iter(report.metrics().values()), {}) or {})
    assert command.report_class().metrics_from_dict(doc) == report.metrics()


@pytest.mark.parametrize("name", COMMAND_NAMES)
def test_from_arrays_and_files_give_identical_reports_on_the_sample_run(name):
    folder = ROOT / "sample_data" / "stacked"
    from_files = predaudit.load_run(folder, split="test", **load_options(name))
    from_memory = predaudit.from_arrays(
        np.load(folder / "test_logits.npy"),
        np.load(folder / "test_labels.npy"),
        split="test",
        **load_options(name),
    )
    assert plain(report_of(name, from_files)) == plain(report_of(name, from_memory))


def test_every_command_has_a_schema_file_and_renderers():
    from predaudit.render import OutputFormat

    for name, command in COMMANDS.items():
        assert (ROOT / "docs" / "schema" / f"{name}.schema.json").is_file(), name
        assert set(command.renderer_table()) == set(OutputFormat), name
