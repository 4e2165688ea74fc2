"""add()'s quick path (record/forms.py): batches of a form checked before are taken without
being checked again, also from one epoch to the next, and give the files and the errors of
batches checked whole (numpy arrays, which never go the quick path)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from predaudit.errors import InputError, OptionError
from predaudit.record import Recorder, buffer, forms

# one batch: rows, scores dtype, labels (float32: class indices as floats, soft: [B, C]),
# classes, ids dtype, whether given to the tensors' recorder as numpy arrays
BATCH = st.tuples(
    st.sampled_from([1, 2, 4]),
    st.sampled_from(["float32", "float16"]),
    st.sampled_from(["int64", "int32", "float32", "soft"]),
    st.sampled_from([3, 3, 3, 4]),
    st.sampled_from(["int64", "int64", "int32"]),
    st.sampled_from([False, False, False, True]),
)


@st.composite
def runs(draw):
    """Epochs of batches: a first epoch, then epochs like it with up to two batches changed
    (of the same rows: the writer process's shared memory is then used as it is)."""
    first = draw(st.lists(BATCH, min_size=1, max_size=6))
    epochs = [first]
    for _ in range(draw(st.integers(0, 3))):
        epoch = list(first)
        for _ in range(draw(st.integers(0, 2))):
            at = draw(st.integers(0, len(first) - 1))
            epoch[at] = (first[at][0], *draw(BATCH)[1:])
        epochs.append(epoch)
    return epochs


def batch_arrays(rng, rows, sdtype, labels, classes, idtype, first_id):
    s = rng.normal(size=(rows, classes)).astype(sdtype)
    if labels == "soft":
        y = rng.dirichlet(np.ones(classes), rows).astype(np.float32)
    else:
        y = rng.integers(0, classes, rows).astype(labels)
    i = np.arange(first_id, first_id + rows, dtype=idtype)
    return s, y, i


def outcome(call, folder):
    """What a call gives: None, or its error's type and message (the folder named alike)."""
    try:
        call()
    except (InputError, OptionError) as error:
        return type(error).__name__, str(error).replace(str(folder), "<folder>")
    return None


def epoch_file(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files if k != "__meta__"}, json.loads(str(z["__meta__"]))


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(epochs=runs(), seed=st.integers(0, 2**16))
def test_the_quick_path_gives_the_files_and_errors_of_batches_checked_whole(
    tmp_path_factory, epochs, seed
):
    rng = np.random.default_rng(seed)
    root = tmp_path_factory.mktemp("run")
    # the writer process copies an epoch of one form straight into its shared memory
    tensors = Recorder(root / "tensors")
    arrays = Recorder(root / "arrays", background=False)
    for e, batches in enumerate(epochs):
        first_id = 0
        for rows, sdtype, labels, classes, idtype, as_numpy in batches:
            s, y, i = batch_arrays(rng, rows, sdtype, labels, classes, idtype, first_id)
            first_id += rows
            t = (s, y, i) if as_numpy else tuple(torch.from_numpy(a) for a in (s, y, i))
            got = outcome(lambda t=t: tensors.add(*t), tensors.folder)
            copies = (s.copy(), y.copy(), i.copy())
            want = outcome(lambda c=copies: arrays.add(*c), arrays.folder)
            assert got == want
        got = outcome(lambda e=e: tensors.end_epoch(e), tensors.folder)
        want = outcome(lambda e=e: arrays.end_epoch(e), arrays.folder)
        assert got == want
        tensors.flush()
        if want is None:
            (a, meta_a), (b, meta_b) = (epoch_file(r.path_for(e)) for r in (tensors, arrays))
            assert meta_a == meta_b
            assert a.keys() == b.keys()
            for k in a:  # (labels of mixed dtypes: torch and numpy promote them
                # differently, int64 and float32 to float32 and float64, the values alike)
                assert a[k].dtype == b[k].dtype or k == "labels"
                np.testing.assert_array_equal(a[k], b[k])
    tensors.close()


def count_checks(monkeypatch):
    """How many batches add() looked up or checked whole (forms.BatchForms)."""
    calls = {"checked": 0}
    for name in ("_known", "_add_checked"):
        original = getattr(forms.BatchForms, name)

        def spy(self, *args, _original=original):
            calls["checked"] += 1
            return _original(self, *args)

        monkeypatch.setattr(forms.BatchForms, name, spy)
    return calls


def digits_epoch(rng, n=23, batch=5, classes=4):
    logits = torch.from_numpy(rng.normal(size=(n, classes)).astype(np.float32))
    labels = torch.from_numpy(rng.integers(0, classes, n))
    return logits, labels, [(a, min(a + batch, n)) for a in range(0, n, batch)]


def add_epoch(rec, scores, labels, spans, *, ids=True):
    """Add one epoch's batches (``spans`` of rows), with ids unless told otherwise."""
    for a, b in spans:
        rec.add(scores[a:b], labels[a:b], torch.arange(a, b) if ids else None)


def test_an_epoch_like_the_one_before_is_taken_without_a_check(tmp_path, monkeypatch):
    """Full batches and a shorter last one: after the first epoch, no batch is looked up
    (the two forms stay from one epoch to the next); the files hold what was added."""
    rng = np.random.default_rng(0)
    calls = count_checks(monkeypatch)
    rec = Recorder(tmp_path, background=False)
    checked = []
    for e in range(3):
        logits, labels, spans = digits_epoch(rng)
        before = calls["checked"]
        add_epoch(rec, logits, labels, spans)
        checked.append(calls["checked"] - before)
        with np.load(rec.end_epoch(e), allow_pickle=False) as z:
            np.testing.assert_array_equal(z["logits"], logits.numpy())
            np.testing.assert_array_equal(z["labels"], labels.numpy())
            np.testing.assert_array_equal(z["ids"], np.arange(23))
            assert json.loads(str(z["__meta__"]))["dtype"] == "float32"
    assert checked == [4, 0, 0]  # epoch 0: the full form, then the short one, each
    # looked up (not found) and checked whole


def test_an_epoch_may_start_with_another_form_and_then_keeps_to_it(tmp_path, monkeypatch):
    """The forms kept from the epoch before are provisional: an epoch whose first batch is
    float16 is recorded as float16; one that starts as float32 refuses a float16 batch."""
    rng = np.random.default_rng(1)
    rec = Recorder(tmp_path, background=False)
    logits, labels, spans = digits_epoch(rng)
    add_epoch(rec, logits, labels, spans)
    rec.end_epoch(0)
    add_epoch(rec, logits.half(), labels, spans)
    with np.load(rec.end_epoch(1), allow_pickle=False) as z:
        assert z["logits"].dtype == np.float16
        np.testing.assert_array_equal(z["logits"], logits.half().numpy())
        assert json.loads(str(z["__meta__"]))["dtype"] == "float16"
    rec.add(logits[:5].half(), labels[:5], torch.arange(5))  # float16 kept from epoch 1
    with pytest.raises(InputError, match="batch 2: scores are float32 but earlier .* float16"):
        rec.add(logits[5:10], labels[5:10], torch.arange(5, 10))
    rec.discard()
    rec.add(logits[:5], labels[:5], torch.arange(5))  # an epoch that starts as float32
    with pytest.raises(InputError, match="batch 2: scores are float16 but earlier .* float32"):
        rec.add(logits[5:10].half(), labels[5:10], torch.arange(5, 10))
    with pytest.raises(InputError, match="batch 3: labels have shape"):
        rec.add(logits[5:10], labels[5:9], torch.arange(5, 10))
    with pytest.raises(InputError, match=r"batch 4: ids have shape \(4,\) for 5 samples"):
        rec.add(logits[5:10], labels[5:10], torch.arange(5, 9))


def test_a_tensor_changed_after_a_quick_add_is_an_error(tmp_path):
    rng = np.random.default_rng(2)
    rec = Recorder(tmp_path, background=False)
    logits, labels, spans = digits_epoch(rng)
    for e in range(2):
        outs = [logits[a:b].clone() for a, b in spans]
        for (a, b), out in zip(spans, outs, strict=True):
            rec.add(out, labels[a:b], torch.arange(a, b))
        if e == 0:
            rec.end_epoch(e)
    outs[2][1] += 1.0  # batch 3, after the epoch's batches went the quick path
    with pytest.raises(InputError, match=r"batch 3 \(or the tensor it is a view of\) was chan"):
        rec.end_epoch(1)


def test_a_batch_like_a_quick_form_that_requires_grad_is_detached(tmp_path):
    rng = np.random.default_rng(3)
    rec = Recorder(tmp_path, background=False)
    logits, labels, spans = digits_epoch(rng)
    add_epoch(rec, logits, labels, spans)
    rec.end_epoch(0)
    weights = logits.clone().requires_grad_()
    scores = weights * 2.0  # a batch of a quick form, with autograd history
    rec.add(scores[:5], labels[:5], torch.arange(5))
    soft = labels[5:10].double().requires_grad_()  # labels as floats, with autograd
    rec.add(logits[5:10], soft * 1.0, torch.arange(5, 10))
    held = rec._epoch.held
    assert not held[0][0].requires_grad and held[0][0].grad_fn is None  # no graph kept
    assert not held[1][1].requires_grad and held[1][1].grad_fn is None
    rec.discard()
    add_epoch(rec, scores, labels, spans)
    with np.load(rec.end_epoch(1), allow_pickle=False) as z:
        np.testing.assert_array_equal(z["logits"], (logits * 2.0).numpy())


def test_numbering_the_samples_is_looked_at_anew_each_epoch(tmp_path, monkeypatch):
    """Without ids (ordered=True) the forms do not stay: each epoch's first batch is
    checked again, so a run that became distributed is refused (ids are then needed)."""
    rng = np.random.default_rng(4)
    rec = Recorder(tmp_path, ordered=True, background=False)
    logits, labels, spans = digits_epoch(rng)
    add_epoch(rec, logits, labels, spans, ids=False)
    rec.end_epoch(0)
    monkeypatch.setattr(buffer, "distributed_rank", lambda: (1, 2))
    with pytest.raises(OptionError, match="every process numbers its own samples"):
        rec.add(logits[:5], labels[:5])


def test_a_first_batch_refused_does_not_set_the_epoch(tmp_path):
    """The epoch's facts come from the first batch held, not from one refused: a batch
    without ids that fails leaves the next, with ids, free (it was refused before)."""
    rec = Recorder(tmp_path, ordered=True, background=False)
    scores = np.arange(12, dtype=np.float32).reshape(3, 4)
    with pytest.raises(InputError, match=r"batch 1: labels have shape \(2,\) for scores"):
        rec.add(scores, np.zeros(2, np.int64))  # no ids, labels too short
    rec.add(scores, np.array([0, 1, 2]), ids=[5, 6, 7])
    with np.load(rec.end_epoch(0), allow_pickle=False) as z:
        np.testing.assert_array_equal(z["ids"], [5, 6, 7])
        np.testing.assert_array_equal(z["logits"], scores)
