"""`predaudit.analysis.confusion` against scikit-learn and PyTorch, and its invariants.

References: ``sklearn.metrics.confusion_matrix`` and
``classification_report(output_dict=True, zero_division=0)`` for the matrix and
per-class metrics (compared to 1e-12), ``torch.nn.functional.cross_entropy`` for
the per-class losses. The runs are small synthetic ones written with numpy.
"""

from __future__ import annotations

import dataclasses
import doctest

import numpy as np
import pytest
import torch
from confusion_runs import write_run
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix

import predaudit
from predaudit.analysis import confusion as cf
from predaudit.analysis.classnames import parse_class_names
from predaudit.errors import InputError, OptionError
from predaudit.render import confusion as render_cf
from predaudit.report.confusion import EpochConfusion, normalize_matrix

TOL = 1e-12


def ce(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-sample cross-entropy (E, N) from PyTorch, 0 where y is -100."""
    t = torch.tensor(logits, dtype=torch.float64)
    e, n, c = t.shape
    yy = torch.tensor(np.tile(y, e))
    out = torch.nn.functional.cross_entropy(t.reshape(-1, c), yy, reduction="none")
    return out.numpy().reshape(e, n)


@pytest.fixture(scope="module")
def realistic(tmp_path_factory):
    folder = tmp_path_factory.mktemp("confusion") / "run"
    logits, y = write_run(folder)
    return logits, y, predaudit.load_run(folder).splits["default"]


def sklearn_reference(y, pred, c):
    keep = y != -100
    labels = list(range(c))
    cm = confusion_matrix(y[keep], pred[keep], labels=labels)
    rep = classification_report(
        y[keep], pred[keep], labels=labels, output_dict=True, zero_division=0
    )
    return cm, rep, accuracy_score(y[keep], pred[keep])


def assert_matches_sklearn(ec: EpochConfusion, y, pred, c):
    cm, rep, acc = sklearn_reference(y, pred, c)
    np.testing.assert_array_equal(ec.matrix, cm)
    assert ec.matrix.dtype == np.int64
    for row in ec.per_class:
        ref = rep[str(row.index)]
        assert row.precision == pytest.approx(ref["precision"], abs=TOL)
        assert row.recall == pytest.approx(ref["recall"], abs=TOL)
        assert row.f1 == pytest.approx(ref["f1-score"], abs=TOL)
        assert row.support == ref["support"]
    for mine, key in ((ec.macro, "macro avg"), (ec.weighted, "weighted avg")):
        assert mine.precision == pytest.approx(rep[key]["precision"], abs=TOL)
        assert mine.recall == pytest.approx(rep[key]["recall"], abs=TOL)
        assert mine.f1 == pytest.approx(rep[key]["f1-score"], abs=TOL)
    assert ec.accuracy == pytest.approx(acc, abs=TOL)
    assert ec.n_samples == int((y != -100).sum())


@pytest.mark.parametrize("epoch", [1, 2, 3, 5])
def test_matches_sklearn_on_several_epochs(realistic, epoch):
    logits, y, stats = realistic
    ec = cf.epoch_confusion(stats, epoch)
    pred = logits[epoch - 1].argmax(axis=1)
    assert_matches_sklearn(ec, y, pred, 10)


def test_classes_that_never_occur_are_listed_with_support_0(realistic):
    logits, y, stats = realistic
    ec = cf.epoch_confusion(stats, 5)
    assert [r.index for r in ec.per_class] == list(range(10))
    never_true_but_predicted, never_at_all = ec.per_class[8], ec.per_class[9]
    assert never_true_but_predicted.support == 0
    assert never_true_but_predicted.n_predicted > 0
    assert (never_true_but_predicted.precision, never_true_but_predicted.recall) == (0.0, 0.0)
    assert never_at_all.support == never_at_all.n_predicted == 0
    assert never_at_all.f1 == 0.0 and never_at_all.mean_loss is None
    assert never_at_all.contribution == 0.0
    # ignored samples are left out: the matrix holds exactly the labelled ones
    assert ec.matrix.sum() == 400 - 15


def test_per_class_loss_and_contributions(realistic):
    logits, y, stats = realistic
    losses = ce(logits, y)
    keep = y != -100
    for epoch in (1, 4, 5):
        ec = cf.epoch_confusion(stats, epoch)
        loss = losses[epoch - 1]
        assert ec.loss == pytest.approx(loss[keep].mean(), abs=1e-12)
        for row in ec.per_class:
            mask = y == row.index
            if row.support:
                assert row.mean_loss == pytest.approx(loss[mask].mean(), abs=1e-12)
            assert row.contribution == pytest.approx(loss[mask].sum() / keep.sum(), abs=1e-12)
        assert sum(r.contribution for r in ec.per_class) == pytest.approx(ec.loss, abs=TOL)


def test_top_confusions(realistic):
    logits, y, stats = realistic
    losses = ce(logits, y)[4]
    pred = logits[4].argmax(axis=1)
    ec = cf.epoch_confusion(stats, 5, top=6)
    assert len(ec.top_confusions) == 6
    counts = [p.count for p in ec.top_confusions]
    assert counts == sorted(counts, reverse=True)
    off = ec.matrix.copy()
    np.fill_diagonal(off, 0)
    assert counts[0] == off.max()
    for p in ec.top_confusions:
        assert p.true != p.pred
        mask = (y == p.true_index) & (pred == p.pred_index)
        assert p.count == mask.sum()
        assert p.share_of_true == pytest.approx(mask.sum() / (y == p.true_index).sum(), abs=TOL)
        assert p.mean_loss == pytest.approx(losses[mask].mean(), abs=1e-12)
    # ties: lower true class first, then lower predicted class
    keys = [(-p.count, p.true_index, p.pred_index) for p in ec.top_confusions]
    assert keys == sorted(keys)


@pytest.mark.parametrize("how", ["true", "pred", "all"])
def test_normalize_matches_sklearn(realistic, how):
    logits, y, stats = realistic
    keep = y != -100
    pred = logits[2].argmax(axis=1)
    ref = confusion_matrix(y[keep], pred[keep], labels=range(10), normalize=how)
    ours = cf.epoch_confusion(stats, 3).normalized(how)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=TOL)
    np.testing.assert_array_equal(normalize_matrix(np.eye(2, dtype=int), "none"), np.eye(2))
    with pytest.raises(ValueError, match="normalize"):
        normalize_matrix(np.eye(2), "rows")


@pytest.mark.parametrize("single_logit", [True, False], ids=["sigmoid", "two_logits"])
def test_binary_run_matches_sklearn(tmp_path, single_logit):
    rng = np.random.default_rng(7)
    e, n = 4, 300
    y = rng.integers(0, 2, n)
    s = np.stack([(2 * y - 1) * (0.3 + 0.4 * k) + rng.normal(size=n) for k in range(e)])
    y[:9] = -100
    scores = s if single_logit else np.stack([np.zeros_like(s), s], axis=-1)
    folder = tmp_path / "bin"
    folder.mkdir()
    np.save(folder / "logits.npy", scores)
    np.save(folder / "labels.npy", y)
    stats = predaudit.load_run(folder).splits["default"]
    assert stats.n_classes == 2
    losses = ce(np.stack([np.zeros_like(s), s], axis=-1), y)
    for epoch in range(1, e + 1):
        ec = cf.epoch_confusion(stats, epoch)
        assert_matches_sklearn(ec, y, (s[epoch - 1] > 0).astype(int), 2)
        keep = y != -100
        assert ec.loss == pytest.approx(losses[epoch - 1][keep].mean(), abs=1e-12)
        assert sum(r.contribution for r in ec.per_class) == pytest.approx(ec.loss, abs=TOL)


def test_diff_loss_by_class_sums_exactly_to_delta_loss(realistic):
    logits, y, stats = realistic
    losses = ce(logits, y)
    keep = y != -100
    for a, b in [(1, 5), (5, 1), (2, 3)]:  # (3, 3) is a usage error: see below
        d = cf.split_confusion(stats, diff=(str(a), str(b))).diff
        assert d is not None
        delta = losses[b - 1][keep].mean() - losses[a - 1][keep].mean()
        assert d.delta_loss == pytest.approx(delta, abs=1e-12)
        total = sum(c.delta_contribution for c in d.per_class)
        assert abs(total - d.delta_loss) <= TOL
        for c in d.per_class:
            m = y == c.index
            ref = (losses[b - 1][m].sum() - losses[a - 1][m].sum()) / keep.sum()
            assert c.delta_contribution == pytest.approx(ref, abs=1e-12)


def test_diff_matrix_and_changes(realistic):
    logits, y, stats = realistic
    keep = y != -100
    cm = [confusion_matrix(y[keep], logits[k].argmax(1)[keep], labels=range(10)) for k in (0, 4)]
    s = cf.split_confusion(stats, diff=("first", "last"), top=50)
    d = s.diff
    assert d is not None and (d.from_epoch, d.to_epoch) == (1, 5)
    assert s.epoch.epoch == 5
    np.testing.assert_array_equal(d.matrix, cm[1] - cm[0])
    off = d.matrix.copy()
    np.fill_diagonal(off, 0)
    assert [p.change for p in d.grew] == sorted(off[off > 0].tolist(), reverse=True)
    assert [p.change for p in d.shrank] == sorted(off[off < 0].tolist())
    for p in (*d.grew, *d.shrank):
        assert p.count_from == cm[0][p.true_index, p.pred_index]
        assert p.count_to == cm[1][p.true_index, p.pred_index]
    assert d.delta_accuracy == pytest.approx(
        np.trace(cm[1]) / keep.sum() - np.trace(cm[0]) / keep.sum(), abs=TOL
    )


def test_diff_sums_to_delta_loss_when_labels_and_ignored_change(tmp_path):
    """Unaligned runs (labels [E, N] that differ, -100 at different places) still add up."""
    rng = np.random.default_rng(3)
    e, n, c = 3, 200, 4
    y = rng.integers(0, c, (e, n))
    y[0, :7] = -100
    y[2, 50:70] = -100
    logits = rng.normal(size=(e, n, c)) * 3
    folder = tmp_path / "unaligned"
    folder.mkdir()
    np.save(folder / "logits.npy", logits)
    np.save(folder / "labels.npy", y)
    stats = predaudit.load_run(folder, layout="epochs").splits["default"]
    for a, b in [(1, 3), (3, 2)]:
        d = cf.split_confusion(stats, diff=(a, b)).diff
        assert d is not None
        assert abs(sum(x.delta_contribution for x in d.per_class) - d.delta_loss) <= TOL
        ea = cf.epoch_confusion(stats, a)
        ref_cm, _, _ = sklearn_reference(y[a - 1], logits[a - 1].argmax(1), c)
        np.testing.assert_array_equal(ea.matrix, ref_cm)


def test_an_epoch_compared_with_itself_is_a_usage_error(realistic):
    _, _, stats = realistic
    with pytest.raises(OptionError) as info:
        cf.split_confusion(stats, diff=("3", "3"))
    assert str(info.value) == (
        "diff=3 3: both epoch 3 and epoch 3 are the same epoch: nothing to compare; "
        "choose two different epochs"
    )


def test_epoch_words_and_bad_epoch(realistic):
    logits, y, stats = realistic
    losses = ce(logits, y)[:, y != -100].mean(axis=1)
    best = int(np.argmin(losses)) + 1
    assert cf.split_confusion(stats).epoch.epoch == 5
    assert cf.split_confusion(stats, epoch="first").epoch.epoch == 1
    assert cf.split_confusion(stats, epoch="best").epoch.epoch == best
    assert cf.split_confusion(stats, epoch="3").epoch.epoch == 3
    with pytest.raises(OptionError, match="no epoch 9"):
        cf.split_confusion(stats, epoch=9)
    with pytest.raises(OptionError, match="^diff="):
        cf.split_confusion(stats, diff=("first", "11"))


def test_class_names_used_everywhere(realistic):
    _, _, stats = realistic
    names = [f"class_{k}" for k in range(10)]
    s = cf.split_confusion(stats, class_names=names, diff=("1", "5"))
    assert s.epoch.labels == names
    assert [r.label for r in s.epoch.per_class] == names
    assert all(isinstance(p.true, str) for p in s.epoch.top_confusions)
    assert [c.label for c in s.diff.per_class] == names
    assert {p.pred for p in s.diff.grew} <= set(names)
    with pytest.raises(ValueError, match="9 class names for 10 classes"):
        cf.split_confusion(stats, class_names=names[:9])


def test_to_dict_has_exactly_the_documented_fields(realistic):
    """One shape for one split or several: {"schema", "run", "splits": {NAME: {...}}}."""
    _, _, stats = realistic
    run = predaudit.RunStats(path="r/", splits={"default": stats})
    d = cf.confusion_report(run, epoch="last").to_dict()
    assert set(d) == {"schema", "run", "splits"}
    assert d["schema"] == "predaudit.confusion/1" and list(d["splits"]) == ["default"]
    s = d["splits"]["default"]
    assert set(s) == {
        "split", "epoch", "labels", "matrix", "per_class", "accuracy", "macro", "weighted",
        "top_confusions", "n_samples", "n_ignored", "n_classes", "input_kind", "loss",
        "epoch_unit", "sample_unit",
        "normalize", "n_clipped", "n_floored", "clip",
    }  # fmt: skip
    assert s["split"] == "default"
    assert set(s["per_class"][0]) == {
        "label", "precision", "recall", "f1", "support", "index", "n_predicted", "mean_loss",
        "contribution",
    }  # fmt: skip
    assert set(s["top_confusions"][0]) == {
        "true", "pred", "count", "share_of_true", "mean_loss", "true_index", "pred_index",
    }  # fmt: skip
    assert set(s["macro"]) == set(s["weighted"]) == {"precision", "recall", "f1"}
    two = predaudit.RunStats(
        path="r/", splits={k: dataclasses.replace(stats, name=k) for k in ("a", "b")}
    )
    d2 = cf.confusion_report(two).to_dict()
    assert set(d2) == {"schema", "run", "splits"}
    assert d2["splits"]["a"]["split"] == "a"
    assert set(d2["splits"]["b"]) == set(s)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("cat\ndog\nbird\n", ["cat", "dog", "bird"]),
        ("cat\r\ndog\r\nbird\r\n\r\n", ["cat", "dog", "bird"]),
        ("\ufeffcat\ndog", ["cat", "dog"]),
        ('["cat", "dog", "bird"]', ["cat", "dog", "bird"]),
        ('  ["a b", "c|d"]\n', ["a b", "c|d"]),
    ],
)
def test_parse_class_names(text, names):
    assert parse_class_names(text, source="n.txt") == names


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "n.txt: no class names"),
        ("cat\n\ndog\n", "n.txt: line 2 is empty: expected one class name a line"),
        ("cat\ndog\ncat\n", "n.txt: class name 'cat' appears more than once"),
        ('["cat", 3]', "n.txt: expected a JSON list of strings (class names)"),
        ('["cat", ', "n.txt: not valid JSON (Expecting value at line 1)"),
        ('["cat", ""]', "n.txt: class name 2 of the JSON list is empty"),
    ],
)
def test_parse_class_names_errors(text, message):
    with pytest.raises(InputError) as err:
        parse_class_names(text, source="n.txt")
    assert str(err.value) == message


@pytest.mark.parametrize("module", [cf, render_cf])
def test_doctests(module):
    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0
