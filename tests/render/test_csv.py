"""The CSV writers (standard-library ``csv``), on small cases written out by hand."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

import predaudit
from predaudit.render.analyze_csv import analyze_csv, column_text, per_sample_csv
from predaudit.render.confusion import bundle_files, matrix_csv
from predaudit.report.analyze import EpochRow, SampleDeltas


def deltas(ids: np.ndarray, loss_from: list[float], loss_to: list[float]) -> SampleDeltas:
    return SampleDeltas(
        ids=ids,
        labels=np.array([0, 1, 2, 1]),
        loss_from=np.array(loss_from),
        loss_to=np.array(loss_to),
        pred_from=np.array([0, 2, 2, 0]),
        pred_to=np.array([1, 1, 2, 0]),
        correct_from=np.array([True, False, True, False]),
        correct_to=np.array([False, True, True, False]),
        p_true_from=np.array([0.5, 0.25, 0.75, 0.125]),
        p_true_to=np.array([0.25, 0.5, 0.75, 0.125]),
    )


def split_of(samples: SampleDeltas, a: int = 2, b: int = 7) -> SimpleNamespace:
    return SimpleNamespace(samples=samples, comparison=SimpleNamespace(from_epoch=a, to_epoch=b))


HEADER = "id,label,loss_2,loss_7,pred_2,pred_7,correct_2,correct_7,delta_loss,cell\n"


def test_per_sample_csv_string_ids_are_quoted_only_when_needed():
    ids = np.array(["img_1", "a,b", 'say "hi"', ""])
    text = per_sample_csv(split_of(deltas(ids, [0.5, 1.0, 0.25, 2.0], [1.5, 0.5, 0.25, 2.0])))
    assert text == HEADER + (
        "img_1,0,0.5,1.5,0,1,True,False,1,correct_to_wrong\n"
        '"a,b",1,1,0.5,2,1,False,True,-0.5,wrong_to_correct\n'
        '"say ""hi""",2,0.25,0.25,2,2,True,True,0,correct_to_correct\n'
        ",1,2,2,0,0,False,False,0,wrong_to_wrong\n"
    )


def test_per_sample_csv_floats_have_17_significant_digits():
    ids = np.array([0.1, 1.0, 2.5, 1e20])
    text = per_sample_csv(
        split_of(deltas(ids, [0.1, 1 / 3, np.inf, np.nan], [0.2, 1 / 3, 1.0, 1.0]))
    )
    assert text.splitlines()[1:] == [
        "0.10000000000000001,0,0.10000000000000001,0.20000000000000001,0,1,True,False,"
        "0.10000000000000001,correct_to_wrong",
        "1,1,0.33333333333333331,0.33333333333333331,2,1,False,True,0,wrong_to_correct",
        "2.5,2,inf,1,2,2,True,True,-inf,correct_to_correct",
        "1e+20,1,,1,0,0,False,False,,wrong_to_wrong",
    ]


def test_per_sample_csv_integer_and_float32_ids():
    base = [0.5, 0.5, 0.5, 0.5]
    text = per_sample_csv(split_of(deltas(np.array([7, 10**12, 0, -3]), base, base)))
    first = [line.split(",")[0] for line in text.splitlines()]
    assert first == ["id", "7", "1000000000000", "0", "-3"]
    f32 = np.array([0.5, 0.1, 3.0, 1 / 3], dtype=np.float32)
    text = per_sample_csv(split_of(deltas(f32, base, base)))
    assert [line.split(",")[0] for line in text.splitlines()[1:]] == [
        "0.5", "0.10000000149011612", "3", "0.3333333432674408",
    ]  # fmt: skip


def test_per_sample_csv_with_no_samples_is_the_header():
    empty = SampleDeltas(*(np.array([], dtype=float) for _ in range(10)))
    assert per_sample_csv(split_of(empty)) == HEADER


def test_column_text():
    assert column_text(np.array([1.5, np.nan, -0.0])) == ["1.5", "", "-0"]
    assert column_text(np.array([True, False])) == ["True", "False"]
    assert column_text(np.array([2**64 - 1], dtype=np.uint64)) == ["18446744073709551615"]
    assert column_text(np.array(["x", "é"])) == ["x", "é"]


def test_analyze_csv_floats_in_full_and_missing_as_empty():
    row = EpochRow(
        epoch=3, n_samples=4, loss=0.1, accuracy=1.0, n_correct=4, loss_correct=1 / 3,
        loss_wrong=None, contribution_correct=0.1, contribution_wrong=0.0,
    )  # fmt: skip
    report = SimpleNamespace(splits={"val": SimpleNamespace(name="val", per_epoch=[row])})
    assert analyze_csv(report) == (
        "split,epoch,n_samples,loss,accuracy,n_correct,loss_correct,loss_wrong,"
        "contribution_correct,contribution_wrong\n"
        "val,3,4,0.1,1.0,4,0.3333333333333333,,0.1,0.0\n"
    )


def test_matrix_csv_counts_fractions_and_change():
    # 3 samples of class 0, 1 of class 1; predictions at epoch 1: 0 0 1 | 1; at epoch 2: 0 0 0 | 0
    scores = np.zeros((2, 4, 2))
    scores[0, [0, 1, 3], [0, 0, 1]] = 3.0
    scores[0, 2, 1] = 3.0
    scores[1, :, 0] = 3.0
    run = predaudit.from_arrays(scores, np.array([0, 0, 0, 1]))
    last = predaudit.confusion(run).splits["default"]
    assert matrix_csv(last) == "true\\pred,0,1\n0,3,0\n1,1,0\n"
    rows = predaudit.confusion(run, normalize="pred", epoch=1).splits["default"]
    assert matrix_csv(rows) == "true\\pred,0,1\n0,1.0,0.5\n1,0.0,0.5\n"
    diff = predaudit.confusion(run, diff=(1, 2)).splits["default"]
    assert matrix_csv(diff) == "true\\pred,0,1\n0,1,-1\n1,1,-1\n"
    assert matrix_csv(diff, diff=False) == "true\\pred,0,1\n0,3,0\n1,1,0\n"
    assert [(role, name) for role, name, _ in bundle_files(diff)] == [
        ("matrix", "confusion_matrix.csv"), ("matrix_diff", "confusion_matrix_diff.csv"),
    ]  # fmt: skip
