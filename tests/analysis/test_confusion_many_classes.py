"""``confusion`` with 20,000 classes: sparse cells, never a C×C matrix.

References: ``sklearn.metrics.confusion_matrix(labels=S)`` on subsets S of the classes
(sklearn drops the samples whose true or predicted class is outside S, so the result
is exactly the S×S block of the full matrix), ``precision_recall_fscore_support``
over all 20,000 classes, and ``collections.Counter`` over the (true, predicted)
pairs for the top confusions, the cells and the cells that changed between epochs.
Memory is bounded with ``tracemalloc`` (numpy reports its allocations to it): the
dense matrix alone would be 3.2 GB.
"""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
from collections import Counter
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

import predaudit
from predaudit.analysis import confusion as cf
from predaudit.cli import main
from predaudit.render import OutputFormat
from predaudit.render.confusion import RENDERERS, bundle_files
from predaudit.render.confusion_common import ROWS_MAX_CLASSES
from predaudit.render.confusion_text import matrix_csv
from predaudit.report.confusion import ConfusionReport
from predaudit.report.confusion_cells import DENSE_MAX_CLASSES

N, C = 50_000, 20_000
SCHEMA = json.loads(
    (Path(__file__).parents[2] / "docs" / "schema" / "confusion.schema.json").read_text()
)


def write_records(folder: Path, *, n: int = N, c: int = C, seed: int = 0) -> dict[int, tuple]:
    """Two epochs of pre-reduced records (epoch, id, loss, pred, label) with ``c`` classes.

    Half the samples (a third at epoch 2) are predicted as a random class and 5% as
    class ``100·(y // 100) + epoch`` (confusions that repeat). Returns {epoch: (y, pred, loss)}.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    y[0] = c - 1
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("epoch", "id", "loss", "pred", "label")}
    out = {}
    for e in (1, 2):
        p = y.copy()
        wrong = rng.random(n) < (0.5 if e == 1 else 0.3)
        p[wrong] = rng.integers(0, c, int(wrong.sum()))
        hot = rng.random(n) < 0.05
        p[hot] = (y[hot] // 100) * 100 + e
        loss = rng.exponential(1.0, n)
        for k, v in zip(cols, (np.full(n, e), np.arange(n), loss, p, y), strict=True):
            cols[k].append(v)
        out[e] = (y, p, loss)
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "records.npz", **{k: np.concatenate(v) for k, v in cols.items()})
    return out


def cell_dict(cells: dict) -> dict[tuple[int, int], int]:
    """``{(true, pred): count}`` of a JSON ``matrix_cells``."""
    pairs = zip(cells["true_index"], cells["pred_index"], strict=True)
    return dict(zip(pairs, cells["count"], strict=True))


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    folder = tmp_path_factory.mktemp("many") / "run"
    data = write_records(folder)
    return folder, data, predaudit.load_run(folder).splits["default"]


@pytest.fixture(scope="module")
def big_diff(big):
    _, _, stats = big
    return cf.split_confusion(stats, diff=("first", "last"), top=10)


def test_cells_equal_sklearn_on_blocks_of_classes(big, big_diff):
    _, data, _ = big
    y, pred, _ = data[2]
    e = big_diff.epoch
    rng = np.random.default_rng(1)
    reported = {p.true_index for p in e.top_confusions} | {p.pred_index for p in e.top_confusions}
    for block in (
        np.arange(0, 300),  # the repeated confusions 100·k + e live here
        np.sort(rng.choice(C, 400, replace=False)),
        np.array(sorted(reported | {C - 1})),
    ):
        ref = confusion_matrix(y, pred, labels=block)
        ours = np.zeros_like(ref)
        pos = {int(k): i for i, k in enumerate(block)}
        for t, p, n in zip(e.cells.true, e.cells.pred, e.cells.count, strict=True):
            if int(t) in pos and int(p) in pos:
                ours[pos[int(t)], pos[int(p)]] = n
        np.testing.assert_array_equal(ours, ref)
    # every nonzero cell, against a Counter of the pairs
    ref_cells = Counter(zip(y.tolist(), pred.tolist(), strict=True))
    pairs = zip(e.cells.true.tolist(), e.cells.pred.tolist(), strict=True)
    ours_cells = dict(zip(pairs, e.cells.count.tolist(), strict=True))
    assert ours_cells == dict(ref_cells)


def test_per_class_metrics_equal_sklearn(big, big_diff):
    _, data, _ = big
    y, pred, loss = data[2]
    e = big_diff.epoch
    prec, rec, f1, sup = precision_recall_fscore_support(
        y, pred, labels=np.arange(C), zero_division=0
    )
    np.testing.assert_allclose([r.precision for r in e.per_class], prec, rtol=0, atol=1e-12)
    np.testing.assert_allclose([r.recall for r in e.per_class], rec, rtol=0, atol=1e-12)
    np.testing.assert_allclose([r.f1 for r in e.per_class], f1, rtol=0, atol=1e-12)
    np.testing.assert_array_equal([r.support for r in e.per_class], sup)
    assert e.accuracy == pytest.approx(float((y == pred).mean()), abs=1e-15)
    assert e.loss == pytest.approx(float(loss.mean()), rel=1e-12)
    assert sum(r.contribution for r in e.per_class) == pytest.approx(e.loss, rel=1e-9)


def test_top_confusions_equal_a_counter(big, big_diff):
    _, data, _ = big
    y, pred, loss = data[2]
    off = Counter((t, p) for t, p in zip(y.tolist(), pred.tolist(), strict=True) if t != p)
    ref = sorted(off.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    got = [((p.true_index, p.pred_index), p.count) for p in big_diff.epoch.top_confusions]
    assert got == ref
    support = Counter(y.tolist())
    for p in big_diff.epoch.top_confusions:
        mask = (y == p.true_index) & (pred == p.pred_index)
        assert p.mean_loss == pytest.approx(float(loss[mask].mean()), rel=1e-12)
        assert p.share_of_true == p.count / support[p.true_index]


def test_diff_cells_grew_and_shrank_equal_counters(big, big_diff):
    _, data, _ = big
    (y, p1, _), (_, p2, _) = data[1], data[2]
    a = Counter(zip(y.tolist(), p1.tolist(), strict=True))
    b = Counter(zip(y.tolist(), p2.tolist(), strict=True))
    changed = {k: (a[k], b[k]) for k in a.keys() | b.keys() if a[k] != b[k]}
    d = big_diff.diff
    assert d is not None
    ours = {
        (int(t), int(p)): (int(f), int(g))
        for t, p, f, g in zip(
            d.cells.true, d.cells.pred, d.cells.count_from, d.cells.count_to, strict=True
        )
    }
    assert ours == changed
    off = [(k, v[1] - v[0]) for k, v in changed.items() if k[0] != k[1]]
    grew = sorted((kv for kv in off if kv[1] > 0), key=lambda kv: (-kv[1], kv[0]))[:10]
    shrank = sorted((kv for kv in off if kv[1] < 0), key=lambda kv: (kv[1], kv[0]))[:10]
    assert [((q.true_index, q.pred_index), q.change) for q in d.grew] == grew
    assert [((q.true_index, q.pred_index), q.change) for q in d.shrank] == shrank
    assert sum(c.delta_contribution for c in d.per_class) == pytest.approx(d.delta_loss, abs=1e-9)


def test_peak_memory_is_O_of_samples_plus_classes(big):
    _, _, stats = big
    cf.split_confusion(stats, diff=("first", "last"))  # warm up (imports, caches)
    tracemalloc.start()
    try:
        report = cf.split_confusion(stats, diff=("first", "last"), normalize="true")
        text = json.dumps(report.to_dict())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(text) > N  # the cells are all there
    # One int64 C×C matrix is 3.2 GB and even a bool one 400 MB; the analysis, with its
    # 20,000 per-class rows and the JSON dict, stays far below.
    assert peak < 150 * 2**20, f"peak {peak / 2**20:.0f} MiB"


def test_the_dense_matrix_is_refused_over_the_limit(big_diff):
    with pytest.raises(ValueError, match="not built"):
        big_diff.epoch.matrix  # noqa: B018
    assert big_diff.diff is not None
    with pytest.raises(ValueError, match="not built"):
        big_diff.diff.matrix  # noqa: B018


def test_json_carries_cells_and_is_valid(big, big_diff):
    folder, data, stats = big
    y, pred, _ = data[2]
    doc = ConfusionReport(run=str(folder), splits={"default": big_diff}).to_dict()
    s = doc["splits"]["default"]
    assert len(s["per_class"]) == len(s["diff"]["per_class"]) == C
    # jsonschema takes ~20 µs an item: the 20,000-row per-class lists (compared with
    # sklearn above) are validated by their first rows, every cell in full.
    trimmed = json.loads(json.dumps(doc))
    trimmed["splits"]["default"]["per_class"] = s["per_class"][:50]
    trimmed["splits"]["default"]["diff"]["per_class"] = s["diff"]["per_class"][:50]
    jsonschema.validate(trimmed, SCHEMA)
    assert "matrix" not in s and "matrix_normalized" not in s and "matrix" not in s["diff"]
    cells = s["matrix_cells"]
    assert set(cells) == {"true_index", "pred_index", "count"}
    ref = Counter(zip(y.tolist(), pred.tolist(), strict=True))
    got = cell_dict(cells)
    assert got == dict(ref)
    keys = np.array(cells["true_index"]) * C + np.array(cells["pred_index"])
    assert (np.diff(keys) > 0).all()  # sorted by true, then predicted class
    norm = cf.split_confusion(stats, normalize="true").to_dict()["matrix_cells"]
    support = Counter(y.tolist())
    expect = [n / support[t] for t, n in zip(norm["true_index"], norm["count"], strict=True)]
    np.testing.assert_allclose(norm["normalized"], expect, rtol=1e-15)


def test_csv_is_one_cell_a_row(big, big_diff):
    _, data, _ = big
    (y, p1, _), (_, p2, _) = data[1], data[2]
    files = {role: (name, text) for role, name, text in bundle_files(big_diff)}
    name, text = files["matrix"]
    assert name == "confusion_cells.csv"
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["true", "predicted", "count"]
    got = {(int(t), int(p)): int(n) for t, p, n in rows[1:]}
    assert got == dict(Counter(zip(y.tolist(), p2.tolist(), strict=True)))
    name, text = files["matrix_diff"]
    assert name == "confusion_cells_diff.csv"
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["true", "predicted", "count_from", "count_to", "change"]
    a = Counter(zip(y.tolist(), p1.tolist(), strict=True))
    b = Counter(zip(y.tolist(), p2.tolist(), strict=True))
    for t, p, f, g, ch in rows[1:]:
        k = (int(t), int(p))
        assert (int(f), int(g), int(ch)) == (a[k], b[k], b[k] - a[k]) and int(ch) != 0
    assert matrix_csv(big_diff) == text  # the diff is what --format csv prints with --diff


def test_tables_list_the_worst_classes_and_say_how_many_more(big, big_diff, tmp_path):
    folder, _, _ = big
    report = ConfusionReport(run=str(folder), splits={"default": big_diff})
    md = RENDERERS[OutputFormat.MARKDOWN](report)
    more = f"{C - ROWS_MAX_CLASSES} more classes not listed"
    assert more in md
    assert "over 2000 classes" in md
    epoch_only = cf.split_confusion(big[2])
    md = RENDERERS[OutputFormat.MARKDOWN](ConfusionReport(run="r", splits={"default": epoch_only}))
    per_class = md.split("### Per class")[1].split("###")[0]
    listed = [ln for ln in per_class.splitlines() if ln.startswith("| ") and ln[2:3].isdigit()]
    assert len(listed) == ROWS_MAX_CLASSES
    worst = sorted(epoch_only.epoch.per_class, key=lambda r: (r.f1, r.index))[:ROWS_MAX_CLASSES]
    assert [ln.split(" | ")[0][2:] for ln in listed] == [str(r.label) for r in worst]
    assert more in md


def test_cli_out_writes_cells_and_pair_figures(big, tmp_path):
    folder, data, _ = big
    out = tmp_path / "out"
    res = CliRunner().invoke(
        main, ["confusion", str(folder), "--diff", "first", "last", "--out", str(out), "-q"]
    )
    assert res.exit_code == 0, (res.stderr, res.exception)
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "confusion.json",
        "confusion.png",
        "confusion_cells.csv",
        "confusion_cells_diff.csv",
        "confusion_diff.png",
    ]
    doc = json.loads((out / "confusion.json").read_text())  # validated above, from the API
    y, p2, _ = data[2]
    cells = doc["splits"]["default"]["matrix_cells"]
    got = cell_dict(cells)
    assert got == dict(Counter(zip(y.tolist(), p2.tolist(), strict=True)))


def test_dense_up_to_the_limit_cells_above(tmp_path):
    for c, dense in ((DENSE_MAX_CLASSES, True), (DENSE_MAX_CLASSES + 1, False)):
        folder = tmp_path / str(c)
        data = write_records(folder, n=3000, c=c, seed=c)
        y, pred, _ = data[2]
        s = cf.split_confusion(predaudit.load_run(folder).splits["default"]).to_dict()
        assert s["n_classes"] == c
        assert ("matrix" in s) is dense and ("matrix_cells" in s) is not dense
        doc = {"schema": "predaudit.confusion/1", "run": "r", "splits": {"d": s}}
        if dense:
            np.testing.assert_array_equal(
                s["matrix"], confusion_matrix(y, pred, labels=np.arange(c))
            )
            s["matrix"] = [row[:2] for row in s["matrix"][:2]]  # 4M cells: slow to validate
        jsonschema.validate(doc, SCHEMA)
        key, other = ("matrix", "matrix_cells") if dense else ("matrix_cells", "matrix")
        s[other] = s[key]  # the other form is refused at this number of classes
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(doc, SCHEMA)
        del s[key]
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(doc, SCHEMA)
