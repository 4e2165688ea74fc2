"""The Recorder: batches in any order, one atomic file per epoch, read back by load_run."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

import predaudit
from predaudit.errors import InputError, OptionError
from predaudit.io.discover import discover
from predaudit.record import EpochExistsError, Recorder, evaluate, npzwrite

N, C, E = 23, 4, 3


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    logits = rng.normal(size=(E, N, C)).astype(np.float32)
    labels = rng.integers(0, C, N)
    return logits, labels, rng


def record_shuffled(rec, logits, labels, rng, batch=5):
    for e in range(logits.shape[0]):
        perm = rng.permutation(N)
        for a in range(0, N, batch):
            idx = perm[a : a + batch]
            rec.add(logits[e][idx], labels[idx], ids=idx)
        rec.end_epoch(e + 1)


def test_shuffled_batches_give_the_run_of_the_arrays(tmp_path, data):
    logits, labels, rng = data
    rec = Recorder(tmp_path, split="val", background=False)
    record_shuffled(rec, logits, labels, rng)
    names = sorted(p.name for p in (tmp_path / "val").iterdir())
    assert names == ["epoch_0001.npz", "epoch_0002.npz", "epoch_0003.npz"]
    with np.load(tmp_path / "val" / "epoch_0002.npz", allow_pickle=False) as z:
        assert z.files == ["logits", "labels", "ids", "__meta__"]
        np.testing.assert_array_equal(z["ids"], np.arange(N))  # sorted by id
        np.testing.assert_array_equal(z["logits"], logits[1])
        np.testing.assert_array_equal(z["labels"], labels)
        meta = json.loads(str(z["__meta__"]))
    assert meta["split"] == "val" and meta["kind"] == "logits" and meta["dtype"] == "float32"
    assert meta["predaudit"] == predaudit.__version__
    run = predaudit.load_run(tmp_path)
    ref = predaudit.from_arrays(logits, labels, ids=np.arange(N))
    s, r = run.splits["val"], ref.splits["default"]
    assert s.epochs == [1, 2, 3]
    np.testing.assert_allclose(s.loss, r.loss, rtol=1e-12)
    np.testing.assert_array_equal(s.correct, r.correct)


def test_torch_tensors_float16_and_bfloat16(tmp_path, data):
    logits, labels, _ = data
    rec = Recorder(tmp_path, split="half", ordered=True, background=False)
    rec.add(torch.tensor(logits[0], dtype=torch.float16, requires_grad=True), torch.tensor(labels))
    rec.end_epoch(1)
    with np.load(tmp_path / "half" / "epoch_0001.npz") as z:
        assert z["logits"].dtype == np.float16
    bf = torch.tensor(logits[0]).to(torch.bfloat16)
    rec = Recorder(tmp_path, split="bf", ordered=True, background=False)
    rec.add(bf[:10], torch.tensor(labels[:10]))
    rec.add(bf[10:], torch.tensor(labels[10:]))
    rec.end_epoch(1)
    with np.load(tmp_path / "bf" / "epoch_0001.npz") as z:
        assert z["logits"].dtype == np.float32  # numpy has no bfloat16: exact float32
        np.testing.assert_array_equal(z["logits"], bf.float().numpy())
        assert json.loads(str(z["__meta__"]))["dtype"] == "bfloat16"


@pytest.mark.parametrize("kind", ["probs", "log_probs"])
def test_kind_names_the_key(tmp_path, data, kind):
    logits, labels, _ = data
    scores = torch.log_softmax(torch.tensor(logits[0]), -1)
    scores = scores.exp() if kind == "probs" else scores
    rec = Recorder(tmp_path, kind=kind, ordered=True, background=False)
    rec.add(scores, labels)
    rec.end_epoch(1)
    with np.load(tmp_path / "val" / "epoch_0001.npz") as z:
        assert kind in z.files
    s = predaudit.load_run(tmp_path).splits["val"]
    assert s.input_kind == kind
    ref = predaudit.from_arrays(logits[:1], labels).splits["default"]
    np.testing.assert_allclose(s.loss, ref.loss, rtol=1e-5)


def test_ids_required_unless_ordered(tmp_path, data):
    logits, labels, _ = data
    with pytest.raises(OptionError, match=r"^ids=None: .*ordered=True"):
        Recorder(tmp_path, background=False).add(logits[0], labels)
    rec = Recorder(tmp_path, ordered=True, background=False)
    rec.add(logits[0][:10], labels[:10])
    rec.add(logits[0][10:], labels[10:])
    rec.end_epoch(1)
    with np.load(tmp_path / "val" / "epoch_0001.npz") as z:
        np.testing.assert_array_equal(z["ids"], np.arange(N))
    rec.add(logits[0][:10], labels[:10])
    with pytest.raises(InputError, match="some batches of this epoch have ids"):
        rec.add(logits[0][10:], labels[10:], ids=np.arange(10, N))


def test_existing_epoch_is_an_error_unless_overwrite(tmp_path, data):
    logits, labels, _ = data
    rec = Recorder(tmp_path, ordered=True, background=False)
    rec.add(logits[0], labels)
    rec.end_epoch(1)
    rec.add(logits[1], labels)
    with pytest.raises(EpochExistsError, match="epoch 1 of split 'val' exists; pass overwrite"):
        rec.end_epoch(1)
    assert rec.pending == 0  # dropped after the failed write
    # a second recorder continues the run
    rec2 = Recorder(tmp_path, ordered=True, background=False)
    rec2.add(logits[1], labels)
    rec2.end_epoch(2)
    (tmp_path / "val" / "epoch_3.npz").write_bytes(b"")  # another writer's name for epoch 3
    rec2.add(logits[2], labels)
    with pytest.raises(FileExistsError, match="epoch_3.npz: epoch 3"):
        rec2.end_epoch(3)
    (tmp_path / "val" / "epoch_3.npz").unlink()
    rec3 = Recorder(tmp_path, ordered=True, overwrite=True, background=False)
    rec3.add(logits[2], labels)
    rec3.end_epoch(1)
    assert predaudit.load_run(tmp_path).splits["val"].epochs == [1, 2]
    with np.load(tmp_path / "val" / "epoch_0001.npz") as z:
        np.testing.assert_array_equal(z["logits"], logits[2])


def test_a_folder_scanned_again_parses_only_the_names_it_has_not_seen(tmp_path, monkeypatch):
    """EpochFiles scans a folder someone else changed again (a foreign file for an epoch is
    found, whatever its spelling), parsing each name once: many epochs stay cheap."""
    from predaudit.record import epochfile

    folder = tmp_path / "val"
    folder.mkdir()
    for e in range(1, 6):
        (folder / f"epoch_{e:04d}.npz").write_bytes(b"")
    (folder / "notes.txt").write_bytes(b"")
    parsed = []
    real = epochfile.parse_name
    monkeypatch.setattr(epochfile, "parse_name", lambda p: parsed.append(p.name) or real(p))
    files = epochfile.EpochFiles(folder)
    assert (
        files.taken(3, folder / "epoch_0003.npz", None, overwrite=False)
        == folder / "epoch_0003.npz"
    )
    assert files.taken(6, folder / "epoch_0006.npz", None, overwrite=False) is None
    assert sorted(parsed) == [f"epoch_{e:04d}.npz" for e in range(1, 6)]  # not notes.txt
    os.utime(folder, ns=(0, 0))  # a change by someone else, even within the mtime's grain
    (folder / "step-6.pt").write_bytes(b"")  # another writer's name for epoch 6
    os.utime(folder, ns=(1, 1))
    assert files.taken(6, folder / "epoch_0006.npz", None, overwrite=True) == folder / "step-6.pt"
    assert parsed[5:] == ["step-6.pt"]
    assert files.known(6, folder / "epoch_0006.npz", 1, overwrite=False) == folder / "step-6.pt"


def test_duplicate_id_in_one_process_is_an_error(tmp_path, data):
    logits, labels, _ = data
    rec = Recorder(tmp_path, background=False)
    rec.add(logits[0][:3], labels[:3], ids=[0, 1, 2])
    rec.add(logits[0][:3], labels[:3], ids=[0, 4, 5])
    with pytest.raises(InputError, match="sample id 0 was added twice at epoch 1"):
        rec.end_epoch(1)


def test_a_crash_leaves_no_readable_file(tmp_path, data, monkeypatch):
    logits, labels, _ = data
    rec = Recorder(tmp_path, ordered=True, background=False)
    rec.add(logits[0], labels)
    rec.end_epoch(1)
    with pytest.raises(RuntimeError), rec.epoch(2):
        rec.add(logits[1], labels)
        raise RuntimeError("the evaluation died")
    assert rec.pending == 0
    # dying while the file is written: the hidden temporary file is what is left
    calls = []

    def die(dtype, shape):  # the header of the second member (the labels)
        calls.append(shape)
        if len(calls) == 2:
            (tmp_path / "val" / ".left-labels").write_bytes(b"x")
            raise KeyboardInterrupt
        return real(dtype, shape)

    real = npzwrite.npy_header
    monkeypatch.setattr(npzwrite, "npy_header", die)
    rec.add(logits[1], labels)
    with pytest.raises(KeyboardInterrupt):
        rec.end_epoch(2)
    names = sorted(os.listdir(tmp_path / "val"))
    assert names == [".left-labels", "epoch_0001.npz"]  # the temporary file was removed
    assert [e for e, _ in discover(tmp_path).splits["val"].epoch_files] == [1]


def test_a_batch_form_checked_before_is_not_checked_again_but_must_agree(
    tmp_path, data, monkeypatch
):
    """The epoch's first and last batches (often shorter) pass the full checks once: in
    later epochs their form is known, and is only compared with the epoch's batches."""
    logits, labels, _ = data
    s, y = torch.from_numpy(logits[0]), torch.from_numpy(labels)
    rec = Recorder(tmp_path, ordered=True, background=False)
    checked = []
    full = Recorder._add_checked
    monkeypatch.setattr(
        Recorder, "_add_checked", lambda self, *a: (checked.append(a[0].shape), full(self, *a))
    )
    rec.add(s[:20], y[:20], ids=torch.arange(20))
    rec.add(s[20:], y[20:], ids=torch.arange(20, N))
    rec.end_epoch(1)
    assert [tuple(x) for x in checked] == [(20, C), (N - 20, C)]
    rec.add(s[20:], y[20:], ids=torch.arange(20, N))  # the short form first this time
    rec.add(s[:20], y[:20], ids=torch.arange(20))
    rec.end_epoch(2)
    assert len(checked) == 2  # nothing checked again
    run = predaudit.load_run(tmp_path)
    for e in (1, 2):
        with np.load(tmp_path / "val" / f"epoch_{e:04d}.npz") as z:
            np.testing.assert_array_equal(z["logits"], logits[0])
            np.testing.assert_array_equal(z["ids"], np.arange(N))
    assert run.splits["val"].epochs == [1, 2]
    rec.add(s[:3], y[:3])  # a new form, without ids
    with pytest.raises(InputError, match="batch 2: some batches of this epoch have ids"):
        rec.add(s[20:], y[20:], ids=torch.arange(20, N))  # a known form, with ids
    rec.discard()
    rec.add(s.double()[:5], y[:5], ids=torch.arange(5))
    with pytest.raises(InputError, match="batch 2: scores are float32 but earlier batches were"):
        rec.add(s[20:], y[20:], ids=torch.arange(20, N))
    rec.discard()
    for b in range(1, 21):  # batch sizes that vary: the forms remembered stay few
        rec.add(s[:b], y[:b], ids=torch.arange(b))
    assert len(rec._checked) <= 16
    rec.discard()


def test_epoch_context_and_bad_batches(tmp_path, data):
    logits, labels, _ = data
    rec = Recorder(tmp_path, split="test", background=False)
    with rec.epoch(0):
        rec.add(logits[0], labels, ids=np.arange(N))
    assert (tmp_path / "test" / "epoch_0000.npz").exists()
    with pytest.raises(InputError, match=r"batch 2: scores have shape \(3, 5\) but earlier"):
        rec.add(logits[0][:3], labels[:3], ids=[0, 1, 2])
        rec.add(np.zeros((3, 5), np.float32), labels[:3], ids=[3, 4, 5])
    with pytest.raises(InputError, match="batch 3: scores are float64 but earlier batches"):
        rec.add(np.zeros((3, 4)), labels[:3], ids=[3, 4, 5])
    with pytest.raises(InputError, match="batch 4: labels have shape"):
        rec.add(logits[0][:3], labels[:2], ids=[3, 4, 5])
    rec.discard()
    with pytest.raises(InputError, match="epoch 5 has no samples"):
        rec.end_epoch(5)
    with pytest.raises(OptionError, match="^split='a/b'"):
        Recorder(tmp_path, split="a/b", background=False)
    with pytest.raises(OptionError, match="^kind='scores'"):
        Recorder(tmp_path, kind="scores", background=False)


def test_text_ids_grow(tmp_path, data):
    logits, labels, _ = data
    ids = np.array([f"s{i}" for i in range(N)])
    ids[-1] = "a-much-longer-id"
    rec = Recorder(tmp_path, background=False)
    rec.add(logits[0][:5], labels[:5], ids=ids[:5])
    rec.add(logits[0][5:], labels[5:], ids=ids[5:])
    rec.end_epoch(1)
    with np.load(tmp_path / "val" / "epoch_0001.npz") as z:
        assert set(z["ids"]) == set(ids)


def test_token_classification(tmp_path):
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(6, 5, 3)).astype(np.float32)
    labels = rng.integers(0, 3, (6, 5))
    labels[:, 3:] = -100  # padding
    rec = Recorder(tmp_path, ordered=True, background=False)
    for e in (1, 2):
        rec.add(scores[:4], labels[:4])
        rec.add(scores[4:], labels[4:])
        rec.end_epoch(e)
    with np.load(tmp_path / "val" / "epoch_0001.npz") as z:
        np.testing.assert_array_equal(z["ids"], np.arange(30))
        np.testing.assert_array_equal(z["labels"], labels.reshape(-1))  # -100 kept
    s = predaudit.load_run(tmp_path).splits["val"]
    expect = torch.nn.functional.cross_entropy(
        torch.tensor(scores).reshape(-1, 3), torch.tensor(labels).reshape(-1), ignore_index=-100
    )
    row = predaudit.analyze(predaudit.load_run(tmp_path), start="first").splits["val"]
    assert row.per_epoch[0].loss == pytest.approx(float(expect), rel=1e-6)
    assert s.n_samples == 18  # the 12 ignored (-100) positions are not counted
    rec.add(scores[:2, :4], labels[:2, :4])
    with pytest.raises(InputError, match="batch 2: 5 tokens per sequence but 4 before"):
        rec.add(scores[2:], labels[2:])
        rec.end_epoch(3)


def test_evaluate_a_plain_torch_loop(tmp_path, data):
    logits, labels, _ = data
    x = torch.tensor(logits[0])
    model = torch.nn.Linear(C, C)
    model.train()
    ds = torch.utils.data.TensorDataset(x, torch.tensor(labels), torch.arange(N))
    loader = torch.utils.data.DataLoader(ds, batch_size=4, shuffle=True)
    rec = Recorder(tmp_path, background=False)
    want = []
    for epoch in (1, 2):
        path = evaluate(model, loader, rec, epoch)
        assert path.name == f"epoch_000{epoch}.npz" and model.training
        with torch.no_grad():
            want.append(float(torch.nn.functional.cross_entropy(model(x), torch.tensor(labels))))
            model.weight.mul_(2.0)
    rows = predaudit.analyze(predaudit.load_run(tmp_path), start="first").splits["val"].per_epoch
    assert [r.loss for r in rows] == pytest.approx(want, rel=1e-5)


def test_fsync_option_writes_the_same_file(tmp_path, data):
    logits, labels, _ = data
    rec = Recorder(tmp_path, ordered=True, fsync=True, background=False)
    rec.add(logits[0], labels)
    rec.end_epoch(1)
    with np.load(tmp_path / "val" / "epoch_0001.npz") as z:
        np.testing.assert_array_equal(z["logits"], logits[0])


def test_a_missing_framework_names_the_extra(monkeypatch):
    import importlib

    from predaudit.record import _extra

    real = importlib.import_module

    def missing(name, *args):
        if name.split(".")[0] in ("lightning", "pytorch_lightning"):
            raise ModuleNotFoundError(f"No module named '{name}'")
        return real(name, *args)

    monkeypatch.setattr(_extra.importlib, "import_module", missing)
    import predaudit.record.lightning as mod

    monkeypatch.delitem(mod.__dict__, "PredauditCallback", raising=False)
    with pytest.raises(ImportError, match=r"needs Lightning: pip install 'predaudit\[lightning\]'"):
        mod.PredauditCallback  # noqa: B018 - the class is made on first use


def test_an_array_changed_after_add(tmp_path, data):
    logits, labels, _ = data
    rec = Recorder(tmp_path, background=False)
    buf = torch.zeros(2 * N, C)
    buf[:N] = torch.tensor(logits[0])
    rec.add(buf[:5], torch.tensor(labels[:5]), torch.arange(5))
    rec.add(buf[5:N], torch.tensor(labels[5:]), torch.arange(5, N))
    buf[5:N] = 0.0  # the loop reuses its output buffer (both batches are views of it)
    with pytest.raises(InputError, match=r"batch 1 \(or the tensor it is a view of\) was chan"):
        rec.end_epoch(1)
    assert rec.pending == 0
    # numpy arrays are copied: reusing one does not change what was recorded
    out = logits[0].copy()
    rec.add(out, labels, np.arange(N))
    out[:] = 0.0
    rec.end_epoch(1)
    with np.load(tmp_path / "val" / "epoch_0001.npz") as z:
        np.testing.assert_array_equal(z["logits"], logits[0])
    with pytest.raises(InputError, match="batch 1: ids have dtype object"):
        rec.add(logits[0][:2], labels[:2], ids=np.array([1, "a"], dtype=object))


def test_many_batches_in_runs_mixed_types(tmp_path, data, monkeypatch):
    """Sorted batches are written in runs of joined pieces; numpy and torch batches mix."""
    from predaudit.record import epochfile

    logits, labels, _ = data
    monkeypatch.setattr(epochfile, "CHUNK_BYTES", 3 * C * 4)  # runs of at most 3 rows
    rec = Recorder(tmp_path, background=False)
    for a in range(N):  # one sample per batch, alternately numpy and torch
        s, y = logits[0][a : a + 1], labels[a : a + 1]
        if a % 2:
            s, y = torch.tensor(s), torch.tensor(y)
        rec.add(s, y, ids=[a])
    with pytest.raises(InputError, match="batch 24: scores are float16 but earlier"):
        rec.add(torch.tensor(logits[0][:1]).half(), labels[:1], ids=[N])
    rec.end_epoch(1)  # the 23 batches before
    for a in range(0, N, 2):  # tensors of the same shape: add()'s quick path
        ids = torch.arange(a, min(a + 2, N))
        rec.add(torch.tensor(logits[1][a : a + 2]), torch.tensor(labels[a : a + 2]), ids)
    rec.end_epoch(2)
    for e in (1, 2):
        with np.load(tmp_path / "val" / f"epoch_000{e}.npz") as z:
            np.testing.assert_array_equal(z["logits"], logits[e - 1])
            np.testing.assert_array_equal(z["labels"], labels)
            np.testing.assert_array_equal(z["ids"], np.arange(N))


@pytest.mark.parametrize("compress", [False, True])
def test_shuffled_epoch_gathered_at_once_or_streamed_is_the_same_file(
    tmp_path, data, monkeypatch, compress
):
    """A small shuffled epoch is gathered in id order when it ends; a large one is
    gathered piece by piece as it is written. Both give the bytes of zipfile and np.save
    (tested in test_npzwrite), so the same file here; np.load gives the sorted arrays."""
    from predaudit.record import epochfile

    logits, labels, _ = data
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    files = []
    for name, chunk in (("at_once", epochfile.CHUNK_BYTES), ("streamed", 2 * C * 4)):
        monkeypatch.setattr(epochfile, "CHUNK_BYTES", chunk)
        rec = Recorder(tmp_path / name, compress=compress, background=False)
        record_shuffled(rec, logits[:1], labels, np.random.default_rng(3))
        files.append((tmp_path / name / "val" / "epoch_0001.npz").read_bytes())
        with np.load(tmp_path / name / "val" / "epoch_0001.npz", allow_pickle=False) as z:
            np.testing.assert_array_equal(z["logits"], logits[0])
            np.testing.assert_array_equal(z["labels"], labels)
            np.testing.assert_array_equal(z["ids"], np.arange(N))
    assert files[0] == files[1]


def test_a_shard_padded_with_duplicates_says_how_many_samples_it_holds(tmp_path, data):
    """DistributedSampler's padding (the same id with the same values) is dropped from a
    shuffled shard; the file's ``__meta__`` counts the rows written, not those added."""
    logits, labels, _ = data
    rec = Recorder(tmp_path, sharded=True, background=False)
    ids = np.array([5, 2, 9, 2, 7, 5])  # 2 and 5 twice: padding
    rec.add(logits[0][ids], labels[ids], ids=ids)
    path = rec.end_epoch(1)
    assert path.name == "epoch_0001.rank0.npz"
    with np.load(path, allow_pickle=False) as z:
        np.testing.assert_array_equal(z["ids"], [2, 5, 7, 9])
        np.testing.assert_array_equal(z["logits"], logits[0][[2, 5, 7, 9]])
        assert json.loads(str(z["__meta__"]))["n_samples"] == 4


def test_end_epoch_returns_each_epochs_file_whatever_the_labels(tmp_path, monkeypatch):
    """The returned paths are made ahead at the epochs' stride (1, a global step's): any
    sequence of labels, or a rank that changes, still gets its own file's path."""
    from predaudit.record import buffer

    rec = Recorder(tmp_path, ordered=True, background=False)
    labels = [0, 1, 2, 500, 1000, 1500, 1501, 7, 40, 20, 3, 19, 18, 10000]
    for epoch in labels:
        rec.add(np.zeros((2, 3), np.float32), np.array([0, 1]))
        path = rec.end_epoch(epoch)
        assert path == tmp_path / "val" / f"epoch_{epoch:04d}.npz"
        assert path.is_file()
    names = sorted(p.name for p in (tmp_path / "val").glob("epoch_*.npz"))
    assert names == sorted(f"epoch_{e:04d}.npz" for e in labels)
    shards = Recorder(tmp_path / "shards", background=False, sharded=True)
    for epoch, rank in [(0, 0), (1, 0), (2, 1), (3, 1), (3, 0)]:
        monkeypatch.setattr(buffer, "distributed_rank", lambda rank=rank: (rank, 2))
        shards.add(np.zeros((2, 3), np.float32), np.array([0, 1]), ids=[4, 5])
        path = shards.end_epoch(epoch)
        assert path == tmp_path / "shards" / "val" / f"epoch_{epoch:04d}.rank{rank}.npz"
        assert path.is_file()
