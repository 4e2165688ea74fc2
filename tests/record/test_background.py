"""``Recorder(background=True)``: the writer process (Linux) and the writer thread (elsewhere,
or when the process cannot start) write the files the recorder writes in-process, and
report their errors at the next call or at exit."""

from __future__ import annotations

import json
import marshal
import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812

import predaudit
from predaudit.errors import InputError
from predaudit.io.discover import discover
from predaudit.record import EpochExistsError, Recorder, epochfile, writerchild, writerproc
from predaudit.record.sharedmem import SharedBuffer

N, C = 23, 4


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    logits = rng.normal(size=(6, N, C)).astype(np.float32)
    labels = rng.integers(0, C, N)
    return logits, labels


@pytest.fixture(params=["process", "thread"])
def writer(request, monkeypatch):
    """Which background writer the recorders of the test use."""
    if request.param == "process":
        if not writerproc.available():
            pytest.skip("no writer process on this platform")
    else:
        monkeypatch.setattr(writerproc, "shared", lambda: None)
    yield request.param
    if request.param == "process":  # the recorders did use the process
        process = writerproc.shared()
        assert process is not None and process.proc.poll() is None


def break_folder(folder):
    """Put a file where the split folder was (a real error for any writer); return undo."""
    away = folder.with_name(folder.name + ".away")
    folder.rename(away)
    folder.write_bytes(b"")

    def undo():
        folder.unlink()
        away.rename(folder)

    return undo


def test_background_writes_and_their_errors(tmp_path, data, writer):
    logits, labels = data
    with Recorder(tmp_path, ordered=True, background=True) as rec:
        for e in (1, 2):
            rec.add(torch.tensor(logits[e][:10]), torch.tensor(labels[:10]))
            rec.add(torch.tensor(logits[e][10:]), torch.tensor(labels[10:]))
            assert rec.end_epoch(e) == tmp_path / "val" / f"epoch_000{e}.npz"
    # leaving the block waited for the writes
    for e in (1, 2):
        with np.load(tmp_path / "val" / f"epoch_000{e}.npz") as z:
            np.testing.assert_array_equal(z["logits"], logits[e])
    run = predaudit.load_run(tmp_path).splits["val"]
    ref = predaudit.from_arrays(logits[1:3], labels).splits["default"]
    np.testing.assert_allclose(run.loss, ref.loss, rtol=1e-12)

    folder = tmp_path / "val"
    rec = Recorder(tmp_path, ordered=True, background=True)
    undo = break_folder(folder)
    rec.add(logits[0], labels)
    rec.end_epoch(3)  # returns at once; the error comes with the next call
    wait_until_written(rec)
    with pytest.raises(NotADirectoryError, match="Not a directory"):
        rec.add(logits[0], labels)
    assert rec.pending == 0  # the batch it was raised with is not added
    undo()
    rec.add(logits[0], labels)
    rec.end_epoch(4)
    rec.close()
    assert predaudit.load_run(tmp_path).splits["val"].epochs == [1, 2, 4]
    rec.add(logits[0], labels)
    undo = break_folder(folder)
    rec.end_epoch(5)
    with pytest.raises(NotADirectoryError):
        rec.flush()
    rec.flush()  # raised once
    undo()
    assert sorted(os.listdir(folder)) == ["epoch_0001.npz", "epoch_0002.npz", "epoch_0004.npz"]


def wait_until_written(rec, timeout=60.0):
    """Until the recorder's background write is finished (without taking its outcome)."""
    end = time.monotonic() + timeout
    while not rec._background.done():
        assert time.monotonic() < end
        time.sleep(0.001)


def test_end_epoch_raises_the_previous_error_first_and_keeps_its_batches(
    tmp_path, data, monkeypatch
):
    """In the writer thread, where the write can be held until the next epoch's batches
    are in (the recorder's code after the wait is the same for the process)."""
    logits, labels = data
    monkeypatch.setattr(writerproc, "shared", lambda: None)
    release = threading.Event()

    def slow_failure(*args):
        release.wait(60)
        raise OSError(28, "No space left on device")

    rec = Recorder(tmp_path, ordered=True, background=True)
    monkeypatch.setattr(epochfile.EpochJob, "run", slow_failure)
    rec.add(logits[0], labels)
    rec.end_epoch(1)
    rec.add(logits[1], labels)  # the write is still under way
    release.set()
    with pytest.raises(OSError, match="No space left"):
        rec.end_epoch(2)
    assert rec.pending == N  # kept: end_epoch(2) can be called again
    monkeypatch.undo()
    rec.end_epoch(2)
    rec.close()
    assert predaudit.load_run(tmp_path).splits["val"].epochs == [2]


def test_background_existing_epochs(tmp_path, data, writer):
    """An epoch this recorder wrote is refused at once; one another writer put in the folder
    since is found by the background writer, and raised by the next call."""
    logits, labels = data
    rec = Recorder(tmp_path, ordered=True, background=True)
    rec.add(logits[0], labels)
    rec.end_epoch(1)
    rec.flush()
    rec.add(logits[1], labels)
    with pytest.raises(EpochExistsError, match="epoch 1 of split 'val' exists; pass overwrite"):
        rec.end_epoch(1)
    assert rec.pending == 0
    (tmp_path / "val" / "epoch_2.npz").write_bytes(b"")  # another writer's name for epoch 2
    rec.add(logits[1], labels)
    rec.end_epoch(2)
    with pytest.raises(EpochExistsError, match="epoch_2.npz: epoch 2 of split 'val' exists$"):
        rec.flush()
    assert (tmp_path / "val" / "epoch_2.npz").read_bytes() == b""  # left as it was
    rec.add(logits[2], labels)
    rec.end_epoch(3)
    rec.close()
    names = sorted(os.listdir(tmp_path / "val"))
    assert names == ["epoch_0001.npz", "epoch_0003.npz", "epoch_2.npz"]
    with np.load(tmp_path / "val" / "epoch_0003.npz") as z:
        np.testing.assert_array_equal(z["logits"], logits[2])


@pytest.mark.parametrize("compress", [False, True])
def test_background_files_are_the_in_process_files(tmp_path, writer, compress, monkeypatch):
    """Byte for byte, for two recorders at once, shuffled epochs that grow (new shared
    memory), one larger than CHUNK_BYTES (gathered in id order by the writer), float16
    scores and text ids."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    rng = np.random.default_rng(1)
    sizes = [(50, 3, np.float32), (400, 10, np.float16), (90_000, 16, np.float32)]
    recs = {
        (mode, split): Recorder(
            tmp_path / mode, split=split, compress=compress, background=mode == "bg"
        )
        for mode in ("bg", "fg")
        for split in ("a", "b")
    }
    for e, (n, c, dtype) in enumerate(sizes):
        for split in ("a", "b"):
            scores = rng.normal(size=(n, c)).astype(dtype)
            labels = rng.integers(0, c, n)
            ids = np.array([f"s{i:06d}" for i in rng.permutation(n)]) if split == "b" else None
            ids = rng.permutation(n) if ids is None else ids
            for mode in ("bg", "fg"):
                rec = recs[mode, split]
                for a in range(0, n, 4096):
                    rec.add(scores[a : a + 4096], labels[a : a + 4096], ids[a : a + 4096])
                rec.end_epoch(e)
    for rec in recs.values():
        rec.close()
    for split in ("a", "b"):
        for e in range(len(sizes)):
            name = f"{split}/epoch_{e:04d}.npz"
            assert (tmp_path / "bg" / name).read_bytes() == (tmp_path / "fg" / name).read_bytes()


def test_background_write_is_of_the_values_at_end_epoch(tmp_path, data, writer):
    """A tensor changed right after end_epoch() returns does not change the file."""
    logits, labels = data
    out = torch.tensor(logits[0])
    with Recorder(tmp_path, ordered=True, background=True) as rec:
        rec.add(out, torch.tensor(labels))  # one batch: kept without a copy until end_epoch
        rec.end_epoch(1)
        out.zero_()
    with np.load(tmp_path / "val" / "epoch_0001.npz") as z:
        np.testing.assert_array_equal(z["logits"], logits[0])


@pytest.mark.parametrize("mode", ["process", "thread"])
def test_a_failed_background_write_is_reported_at_exit(tmp_path, mode):
    code = (
        "import numpy as np, predaudit\n"
        "from predaudit.record import writerproc\n"
        f"if {mode!r} == 'thread': writerproc._STATE['failed'] = True\n"
        f"rec = predaudit.Recorder({str(tmp_path)!r}, ordered=True, background=True)\n"
        f"open({str(tmp_path / 'val')!r}, 'w').close()  # a file where the folder goes\n"
        "rec.add(np.zeros((2, 3), np.float32), np.array([0, 1]))\n"
        "rec.end_epoch(1)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    path = tmp_path / "val" / "epoch_0001.npz"
    problem = f"[Errno 20] Not a directory: {str(tmp_path / 'val')!r}"
    assert res.returncode == 0
    assert res.stderr == f"predaudit: writing {path} failed: {problem}\n"


@pytest.mark.skipif(not writerproc.available(), reason="no writer process on this platform")
def test_a_killed_writer_process_loses_nothing(tmp_path, data):
    """The epoch it did not answer for is written by the recorder itself, from the shared
    memory; the next epoch goes to a new process."""
    logits, labels = data
    rec = Recorder(tmp_path, ordered=True, background=True)
    rec.add(logits[0], labels)
    rec.end_epoch(1)
    rec.flush()
    process = writerproc.shared()
    assert process is not None
    process.proc.kill()
    process.proc.wait()
    rec.add(logits[1], labels)
    rec.end_epoch(2)
    rec.flush()
    assert process.dead
    rec.add(logits[2], labels)
    rec.end_epoch(3)
    rec.close()
    assert writerproc.shared() not in (None, process)
    assert predaudit.load_run(tmp_path).splits["val"].epochs == [1, 2, 3]
    for e in (1, 2, 3):
        with np.load(tmp_path / "val" / f"epoch_000{e}.npz") as z:
            np.testing.assert_array_equal(z["logits"], logits[e - 1])


@pytest.mark.skipif(not writerproc.available(), reason="no writer process on this platform")
def test_a_writer_process_that_cannot_start_falls_back_to_the_thread(tmp_path, data, monkeypatch):
    logits, labels = data
    if writerproc._WRITER:  # the process other tests started: ended the way exit ends it
        writerproc._WRITER.pop().close()
    monkeypatch.setattr(writerproc, "_STATE", {"failed": False})
    monkeypatch.setattr(writerproc, "_CHILD", "import sys; sys.exit(1)")
    rec = Recorder(tmp_path, ordered=True, background=True)
    epochs = []
    for e in range(1, 200):  # until its end is noticed (a message it cannot be sent)
        rec.add(logits[e % 6], labels)
        rec.end_epoch(e)
        epochs.append(e)
        if writerproc.shared() is None:  # the thread from now on
            break
        time.sleep(0.02)
    rec.add(logits[0], labels)
    rec.end_epoch(epochs[-1] + 1)  # by the thread
    rec.close()
    assert writerproc.shared() is None
    assert predaudit.load_run(tmp_path).splits["val"].epochs == [*epochs, epochs[-1] + 1]


def test_a_duplicate_id_is_an_error_of_the_background_write(tmp_path, data, writer):
    """Ids are sorted (and padding duplicates dropped) by the background writer, so a
    duplicate id is raised as its errors are: by the next call; nothing is written."""
    logits, labels = data
    rec = Recorder(tmp_path, background=True)
    rec.add(logits[0][:3], labels[:3], ids=[0, 1, 2])
    rec.add(logits[0][:3], labels[:3], ids=[0, 4, 5])
    rec.end_epoch(1)
    with pytest.raises(InputError, match="sample id 0 was added twice at epoch 1"):
        rec.flush()
    rec.close()
    assert not (tmp_path / "val").exists() or os.listdir(tmp_path / "val") == []


@pytest.mark.parametrize("background", [False, True])
def test_the_quick_path_of_add_keeps_tensors_as_the_checked_path_does(tmp_path, data, background):
    """Batches of the same shapes after the first take add()'s quick path: a CPU tensor is
    held as it is (changed in place afterwards: an error naming the batch, nothing written),
    one that requires grad is detached, and the file is that of the values added."""
    logits, labels = data
    rec = Recorder(tmp_path, background=background)
    batches = [torch.tensor(logits[0][a : a + 5]) for a in range(0, 20, 5)]
    for a, scores in zip(range(0, 20, 5), batches, strict=True):  # the same shapes and types
        rec.add(scores, torch.tensor(labels[a : a + 5]), torch.arange(a, a + 5))
    batches[2].zero_()  # batch 3 changed in place after add()
    with pytest.raises(InputError, match=r"batch 3 \(or the tensor it is a view of\) was chan"):
        rec.end_epoch(1)
    assert rec.pending == 0
    grad = torch.tensor(logits[1], requires_grad=True)
    for a in range(0, 20, 5):
        rec.add(grad[a : a + 5] * 1.0, torch.tensor(labels[a : a + 5]), torch.arange(a, a + 5))
    assert all(not h[0].requires_grad for h in rec._epoch.held)
    rec.end_epoch(1)
    rec.close()
    with np.load(tmp_path / "val" / "epoch_0001.npz") as z:
        np.testing.assert_array_equal(z["logits"], logits[1][:20])
        np.testing.assert_array_equal(z["ids"], np.arange(20))
    # soft targets can require grad too (integer labels and ids cannot: not looked at)
    rec = Recorder(tmp_path, split="soft", background=background)
    soft = torch.softmax(torch.tensor(logits[2], requires_grad=True), dim=1)
    for a in range(0, 20, 5):
        rec.add(torch.tensor(logits[0][a : a + 5]), soft[a : a + 5], torch.arange(a, a + 5))
    assert all(not h[1].requires_grad for h in rec._epoch.held)
    rec.end_epoch(1)
    rec.close()
    with np.load(tmp_path / "soft" / "epoch_0001.npz") as z:
        np.testing.assert_array_equal(z["labels"], soft.detach().numpy()[:20])


@pytest.mark.skipif(not writerproc.available(), reason="no writer process on this platform")
def test_the_writer_process_passes_over_a_posted_message_it_has_not_seen_whole(tmp_path):
    """A job is posted in the shared memory with its CRC; the process runs it only when the
    message it reads matches (else it looks again later), and never a job already done."""
    from predaudit.record import writerchild

    buf = SharedBuffer()
    int64 = np.dtype(np.int64)
    views = buf._place([(np.dtype(np.float32), (2, 3)), (int64, (2,)), (int64, (2,))])
    views[0][:] = np.arange(6).reshape(2, 3)
    views[1][:] = [0, 2]
    views[2][:] = [0, 1]
    path = tmp_path / "val" / "epoch_0001.npz"
    meta = {"format": epochfile.FORMAT, "epoch": 1, "kind": "logits", "dtype": "float32"}
    message = marshal.dumps(
        {
            "id": 0, "key": 0, "size": buf.size, "folder": str(tmp_path / "val"),
            "path": str(path), "places": buf.places, "meta": meta, "epoch": 1, "rank": None,
            "split": "val", "overwrite": False, "compress": False, "fsync": False,
            "date_time": [2020, 1, 1, 0, 0, 0], "source_date_epoch": None,
        }
    )  # fmt: skip
    assert buf.post(0, message)
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    shared = (buf.map, buf.fd)
    profiles: dict = {}
    torn = message[:40] + bytes([message[40] ^ 1]) + message[41:]  # a byte not seen yet
    buf.map[writerchild.POSTED_AT : writerchild.POSTED_AT + len(torn)] = torn
    writerchild._serve_job(theirs, 0, None, shared, {}, profiles)
    assert writerchild.STATUS.unpack_from(buf.map)[0] == -1 and not path.exists()
    assert buf.post(0, message)
    writerchild._serve_job(theirs, 0, None, shared, {}, profiles)
    assert buf.status() == (0, writerchild.DONE_HERE)
    with np.load(path) as z:
        np.testing.assert_array_equal(z["logits"], np.arange(6).reshape(2, 3))
    path.unlink()
    writerchild._serve_job(theirs, 0, None, shared, {}, profiles)  # done: passed over
    assert not path.exists()
    # A short message, (number, epoch, of): whole job ``of`` (the last done) for that epoch
    assert buf.post(1, marshal.dumps((1, 2, 0)))
    writerchild._serve_job(theirs, 0, None, shared, {}, {})  # no whole job seen: passed over
    writerchild._serve_job(theirs, 0, None, shared, {}, {0: {**profiles[0], "id": 5}})  # another
    assert buf.status() == (0, writerchild.DONE_HERE)
    writerchild._serve_job(theirs, 0, None, shared, {}, profiles)
    assert buf.status() == (1, writerchild.DONE_HERE)
    with np.load(tmp_path / "val" / "epoch_0002.npz") as z:
        np.testing.assert_array_equal(z["logits"], np.arange(6).reshape(2, 3))
        assert json.loads(z["__meta__"].item())["epoch"] == 2
    del views
    buf.close()
    mine.close()
    theirs.close()


@pytest.mark.skipif(not writerproc.available(), reason="no writer process on this platform")
def test_a_writer_process_with_no_recorder_waits_on_its_socket_without_waking():
    """With no shared memory mapped (no recorder yet, or all released) the process does not
    poll: it is not woken at all until a message comes (and it ends when the socket closes)."""
    writer = writerproc.Writer()
    status = Path(f"/proc/{writer.proc.pid}/status")
    wchan = Path(f"/proc/{writer.proc.pid}/wchan")

    def wakeups() -> int:
        for line in status.read_text().splitlines():
            if line.startswith("voluntary_ctxt_switches"):
                return int(line.split()[1])
        raise AssertionError("no voluntary_ctxt_switches")

    try:
        end = time.monotonic() + 30
        while "poll" not in wchan.read_text():
            assert time.monotonic() < end  # until it has started and waits in select()
            time.sleep(0.05)
        before = wakeups()
        time.sleep(1.0)  # 500 looks at the quickest polling, 10 at the slowest
        assert wakeups() == before
    finally:
        writer.close()
    assert writer.proc.returncode == 0


def test_batches_of_mixed_types_and_dtypes_are_joined_as_in_process(tmp_path, data, writer):
    """Epochs that mix tensors and arrays, or int64 and int32 labels and ids (also a batch
    form known from an earlier epoch before a new one), give the in-process files."""
    logits, labels = data
    recs = [
        Recorder(tmp_path / where, background=bg) for where, bg in (("bg", True), ("fg", False))
    ]
    for rec in recs:
        for e, mixed in enumerate((False, True, False, True)):
            s, y = logits[e], labels
            rec.add(torch.from_numpy(s[:10]), torch.from_numpy(y[:10]), torch.arange(10))
            rec.add(torch.from_numpy(s[10:20]), torch.from_numpy(y[10:20]), torch.arange(10, 20))
            if mixed:  # numpy float32 scores, int32 labels and ids
                rec.add(s[20:], y[20:].astype(np.int32), np.arange(20, N, dtype=np.int32))
            else:
                rec.add(torch.from_numpy(s[20:]), torch.from_numpy(y[20:]), torch.arange(20, N))
            rec.end_epoch(e)
        rec.add(logits[4][20:], labels[20:].astype(np.int32), np.arange(20, N))  # a known form
        rec.add(torch.from_numpy(logits[4][:20]), torch.from_numpy(labels[:20]), torch.arange(20))
        rec.end_epoch(4)
        rec.close()
    for e in range(5):
        name = f"val/epoch_{e:04d}.npz"
        with np.load(tmp_path / "bg" / name) as bg, np.load(tmp_path / "fg" / name) as fg:
            np.testing.assert_array_equal(bg["logits"], logits[e])
            np.testing.assert_array_equal(bg["labels"], labels)
            np.testing.assert_array_equal(bg["ids"], np.arange(N))
            for key in ("logits", "labels", "ids"):
                assert bg[key].dtype == fg[key].dtype
                np.testing.assert_array_equal(bg[key], fg[key])


def _done_by_the_process(rec: Recorder) -> None:
    """Wait until the writer process has done the recorder's job under way."""
    assert rec._background is not None and rec._background._shm is not None
    deadline = time.monotonic() + 60
    while not rec._background.done():
        assert time.monotonic() < deadline, "the writer process did not do the job"
        time.sleep(0.005)
    assert rec._background._shm[2].status()[1] == writerchild.DONE_HERE


def _posted(monkeypatch) -> list:
    """The messages the recorders leave in the shared memory from now on, unmarshalled."""
    seen: list = []
    post = SharedBuffer.post

    def spy(self, number, message):
        seen.append(marshal.loads(message))
        return post(self, number, message)

    monkeypatch.setattr(SharedBuffer, "post", spy)
    return seen


@pytest.mark.skipif(not writerproc.available(), reason="no writer process on this platform")
def test_an_epoch_like_the_one_before_is_sent_short_and_written_as_in_process(
    tmp_path, monkeypatch
):
    """Epochs of torch tensors of one form and size (the usual loop) go to the writer process
    as (number, epoch) and are copied into the places of the epoch before; any other change
    (the dtype, the size, the ids' presence, overwrite) sends the job whole again. The files
    are byte for byte the in-process recorder's."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    seen = _posted(monkeypatch)
    rng = np.random.default_rng(3)
    f16 = torch.float16
    plan = [(40, torch.float32)] * 3 + [(40, f16), (40, f16), (41, f16)]
    recs = {m: Recorder(tmp_path / m, split="v", background=m == "bg") for m in ("bg", "fg")}
    for e, (n, dtype) in enumerate(plan):
        scores = torch.tensor(rng.normal(size=(n, 5)), dtype=dtype)
        labels, ids = torch.tensor(rng.integers(0, 5, n)), torch.tensor(rng.permutation(n))
        for rec in recs.values():
            for a in range(0, n, 16):  # a shorter last batch, as from a DataLoader
                rec.add(scores[a : a + 16], labels[a : a + 16], ids[a : a + 16])
            rec.end_epoch(e)
        _done_by_the_process(recs["bg"])  # (a flush now would do the job itself)
    recs["bg"].overwrite = recs["fg"].overwrite = True
    for rec in recs.values():
        rec.add(scores, labels, ids)
        rec.end_epoch(0)
        rec.close()
    assert [m[1] for m in seen if isinstance(m, tuple)] == [1, 2, 4]  # (number, epoch)
    # float16; 41 rows; overwrite (epoch 0 was the first job, sent over the socket)
    assert [m["epoch"] for m in seen if isinstance(m, dict)] == [3, 5, 0]
    for e in range(len(plan)):
        name = f"v/epoch_{e:04d}.npz"
        assert (tmp_path / "bg" / name).read_bytes() == (tmp_path / "fg" / name).read_bytes()
    with np.load(tmp_path / "bg" / "v" / "epoch_0002.npz") as z:
        assert json.loads(z["__meta__"].item())["epoch"] == 2


@pytest.mark.skipif(not writerproc.available(), reason="no writer process on this platform")
def test_a_whole_job_the_recorder_did_itself_is_sent_whole_again(tmp_path, data, monkeypatch):
    """The process keeps the last whole job it did, for the short messages that follow; if
    the recorder did that job itself (the process stopped), the next job comes whole, and
    the process does it."""
    import signal

    logits, labels = data
    seen = _posted(monkeypatch)
    rec = Recorder(tmp_path, ordered=True, background=True)
    rec.add(logits[0], labels)
    rec.end_epoch(1)
    _done_by_the_process(rec)
    process = writerproc.shared()
    assert process is not None
    os.kill(process.proc.pid, signal.SIGSTOP)  # idle: between jobs, not holding the lock
    try:
        rec.add(logits[1][:20], labels[:20])  # other places: whole
        rec.end_epoch(2)
        rec.flush()  # done by the recorder itself
    finally:
        os.kill(process.proc.pid, signal.SIGCONT)
    assert rec._background is not None
    shm = rec._background._shm
    assert shm is not None and shm[2].status()[1] == writerchild.DONE_BY_RECORDER
    rec.add(logits[2][:20], labels[:20])  # like epoch 2, but the process never saw it
    rec.end_epoch(3)
    _done_by_the_process(rec)  # (a short message would never be)
    rec.add(logits[3][:20], labels[:20])
    rec.end_epoch(4)
    rec.close()
    assert [isinstance(m, dict) for m in seen] == [True, True, False]  # epoch 1 by socket
    for e in (2, 3, 4):
        with np.load(tmp_path / "val" / f"epoch_000{e}.npz") as z:
            np.testing.assert_array_equal(z["logits"], logits[e - 1][:20])


# -- the default, and reading the run in the process that records it --------------------


@contextmanager
def writes_held(writer, monkeypatch):
    """While in the block, a background write cannot finish by itself: the writer process
    is stopped (SIGSTOP; a write is then done by the recorder when it is waited for), or
    the writer thread's job sleeps 0.3 s first."""
    if writer == "thread":
        run = epochfile.EpochJob.run

        def slow(self, files):
            time.sleep(0.3)
            run(self, files)

        monkeypatch.setattr(epochfile.EpochJob, "run", slow)
        yield
        return
    import signal

    process = writerproc.shared()
    assert process is not None
    os.kill(process.proc.pid, signal.SIGSTOP)  # no job posted yet: it holds no lock
    try:
        yield
    finally:
        os.kill(process.proc.pid, signal.SIGCONT)


def test_the_default_recorder_writes_in_the_background_and_reading_waits(
    tmp_path, data, writer, monkeypatch
):
    """``Recorder()`` writes in the background; reading the run in the same process (the
    run, a split folder or an epoch file) first lets the writes into it finish."""
    logits, labels = data
    rec = Recorder(tmp_path / "run", ordered=True)
    assert rec.background
    folder = tmp_path / "run" / "val"
    with writes_held(writer, monkeypatch):
        for e in (1, 2):
            rec.add(torch.tensor(logits[e]), torch.tensor(labels))
            rec.end_epoch(e)  # (waits for epoch 1's write: the recorder does it if held)
        assert not (folder / "epoch_0002.npz").exists()  # under way
        run = predaudit.load_run(tmp_path / "run").splits["val"]
        assert (folder / "epoch_0002.npz").exists()
        rec.add(torch.tensor(logits[3]), torch.tensor(labels))
        rec.end_epoch(3)
        discover(folder / "epoch_0003.npz")  # an epoch file
        assert (folder / "epoch_0003.npz").exists()
        rec.add(torch.tensor(logits[4]), torch.tensor(labels))
        rec.end_epoch(4)
        (split,) = discover(folder).splits.values()  # the split folder
        assert [e for e, _ in split.epoch_files] == [1, 2, 3, 4]
    rec.close()
    assert run.epochs == [1, 2]
    expected = [
        float(F.cross_entropy(torch.tensor(logits[e]), torch.tensor(labels))) for e in (1, 2)
    ]
    np.testing.assert_allclose(run.loss.mean(axis=1), expected, rtol=1e-6)


def test_reading_the_run_leaves_a_failed_write_to_the_recorder(tmp_path, data, writer):
    """A write that failed is the recorder's error to raise (once), not the reader's."""
    logits, labels = data
    rec = Recorder(tmp_path)
    for e, ids in enumerate((np.arange(N), np.arange(N)[::-1], np.zeros(N, dtype=int))):
        rec.add(logits[e][ids], labels[ids], ids=ids)
        rec.end_epoch(e)
    assert predaudit.load_run(tmp_path).splits["val"].epochs == [0, 1]  # epoch 2 failed
    with pytest.raises(InputError, match="sample id 0 was added twice"):
        rec.flush()
    rec.flush()  # raised once
    rec.add(logits[2], labels, ids=np.arange(N))
    rec.end_epoch(2)
    rec.close()
    assert predaudit.load_run(tmp_path).splits["val"].epochs == [0, 1, 2]


def test_reading_one_run_does_not_wait_for_the_writes_of_another(tmp_path, data, writer):
    logits, labels = data
    recs = {name: Recorder(tmp_path / name, ordered=True) for name in ("a", "b")}
    for e in (0, 1):
        for rec in recs.values():
            rec.add(logits[e], labels)
            rec.end_epoch(e)
    predaudit.load_run(tmp_path / "b")
    pending = {name: rec._background._writing is not None for name, rec in recs.items()}
    assert pending == {"a": True, "b": False}
    with pytest.raises(InputError, match="holds 2 separate runs"):
        discover(tmp_path)  # a folder holding both: refused, after the writes into it
    assert recs["a"]._background._writing is None
    for rec in recs.values():
        rec.close()


@pytest.mark.skipif(not writerproc.available(), reason="no writer process on this platform")
def test_a_kept_error_of_a_write_the_recorder_did_itself_does_not_block_its_memory(
    tmp_path, data, monkeypatch
):
    """The traceback of a job the recorder did itself (the process stopped) holds views of
    the shared memory: an epoch that needs more of it, and close(), still work."""
    logits, labels = data
    rec = Recorder(tmp_path, background=True)
    with writes_held("process", monkeypatch):
        rec.add(logits[0], labels, ids=np.zeros(N, dtype=int))
        rec.end_epoch(0)
        with pytest.raises(InputError, match="sample id 0 was added twice") as kept:
            rec.flush()
    assert rec._background is not None and rec._background._shm is not None
    assert rec._background._shm[2].status()[1] == writerchild.DONE_BY_RECORDER
    big = np.tile(logits[1], (50, 1))  # 50 times the memory: it is mapped anew
    rec.add(big, np.tile(labels, 50), ids=np.arange(50 * N))
    rec.end_epoch(1)
    rec.close()
    assert kept.value.__traceback__ is not None  # (still held)
    with np.load(tmp_path / "val" / "epoch_0001.npz") as z:
        np.testing.assert_array_equal(z["logits"], big)
    assert not (tmp_path / "val" / "epoch_0000.npz").exists()


# -- processes forked from the training loop's (DataLoader workers) ---------------------

_WORKERS_SCRIPT = """
import sys, torch
from predaudit.record import Recorder, writerproc
x, y, ids = torch.randn(256, 8), torch.randint(0, 3, (256,)), torch.arange(256)
data = torch.utils.data.TensorDataset(x, y, ids)
rec = Recorder(sys.argv[1], split="val")  # the writer process starts before the workers fork
loader = torch.utils.data.DataLoader(data, batch_size=32, num_workers=2, persistent_workers=True)
model = torch.nn.Linear(8, 3)
for epoch in range(3):
    with torch.no_grad():
        for xb, yb, ib in loader:
            rec.add(model(xb), yb, ib)
    rec.end_epoch(epoch)
print(writerproc.shared().proc.pid, flush=True)
"""


@pytest.mark.skipif(not writerproc.available(), reason="no writer process on this platform")
def test_a_loop_with_persistent_dataloader_workers_exits_at_once(tmp_path):
    """The workers, forked after the writer process started, held the socket to it open,
    so that at exit the process never saw it close: the interpreter waited 60 s for it."""
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", _WORKERS_SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    took = time.monotonic() - start
    assert done.returncode == 0, done.stderr
    assert took < 30, f"the loop's process took {took:.0f} s to exit"
    writer_pid = int(done.stdout.split()[-1])
    with pytest.raises(ProcessLookupError):
        os.kill(writer_pid, 0)  # the writer process has ended (its parent waited for it)
    run = predaudit.load_run(tmp_path).splits["val"]
    assert run.epochs == [0, 1, 2] and run.n_samples == 256


@pytest.mark.skipif(not writerproc.available(), reason="no writer process on this platform")
def test_the_writer_process_ends_when_told_though_its_socket_stays_open():
    writer = writerproc.Writer()
    try:
        writer.sock.send(marshal.dumps({"exit": True}))
        assert writer.proc.wait(timeout=30) == 0
    finally:
        writer.sock.close()


@pytest.mark.skipif(not writerproc.available(), reason="no writer process on this platform")
def test_a_forked_child_closes_its_copy_of_the_socket_to_the_writer_process(tmp_path):
    Recorder(tmp_path, ordered=True)  # the writer process is started
    process = writerproc.shared()
    assert process is not None
    pid = os.fork()
    if pid == 0:  # the child: its copy is closed, and it would start its own process
        os._exit(0 if process.sock.fileno() == -1 else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert process.sock.fileno() >= 0  # the parent's is open


def _allocated(rec: Recorder) -> int:
    """Bytes of the recorder's shared memory the system holds (its memfd's blocks)."""
    assert rec._background is not None and rec._background._shm is not None
    return os.fstat(rec._background._shm[2].fd).st_blocks * 512


@pytest.mark.skipif(not writerproc.available(), reason="no writer process on this platform")
@pytest.mark.parametrize("large", [False, True])
def test_a_large_epoch_is_given_back_once_written(tmp_path, monkeypatch, large):
    """Between epochs a large epoch's shared memory holds nothing (only the batches being
    collected are held), whoever wrote it; a small one stays. The epochs after it, joined
    into the memory taken again, are written whole."""
    from predaudit.record import sharedmem

    monkeypatch.setattr(sharedmem, "RELEASE_BYTES", 1 << 16 if large else 1 << 40)
    rng = np.random.default_rng(2)
    n, c = 3000, 10  # 120 kB of scores
    rec = Recorder(tmp_path, split="v")
    written = []
    for e in range(4):
        s = torch.tensor(rng.normal(size=(n, c)), dtype=torch.float32)
        y, i = torch.tensor(rng.integers(0, c, n)), torch.tensor(rng.permutation(n))
        for a in range(0, n, 512):
            rec.add(s[a : a + 512], y[a : a + 512], i[a : a + 512])
        if e == 2:
            with writes_held("process", monkeypatch):
                rec.end_epoch(e)
                rec.flush()  # done by the recorder itself
            shm = rec._background._shm
            assert shm is not None and shm[2].status()[1] == writerchild.DONE_BY_RECORDER
        else:
            rec.end_epoch(e)
            _done_by_the_process(rec)
        written.append(_allocated(rec))
        order = np.argsort(i.numpy())
        rec.flush()
        with np.load(tmp_path / "v" / f"epoch_{e:04d}.npz") as z:
            np.testing.assert_array_equal(z["logits"], s.numpy()[order])
            np.testing.assert_array_equal(z["labels"], y.numpy()[order])
    rec.close()
    if large:
        assert max(written) <= writerchild.ARRAYS_AT  # the status and the message only
    else:
        assert min(written) >= n * c * 4


def test_reading_waits_only_for_the_recorders_of_its_own_thread(tmp_path, data, writer):
    """Another thread's recorder may be in its own wait for that write: it is left alone."""
    logits, labels = data
    made: dict[str, Recorder] = {}

    def record():
        rec = made["rec"] = Recorder(tmp_path, ordered=True)
        for e in (0, 1):
            rec.add(logits[e], labels)
            rec.end_epoch(e)

    thread = threading.Thread(target=record)
    thread.start()
    thread.join()
    discover(tmp_path)
    assert made["rec"]._background is not None
    assert made["rec"]._background._writing is not None  # not settled from this thread
    made["rec"].close()
    assert predaudit.load_run(tmp_path).splits["val"].epochs == [0, 1]


@pytest.mark.skipif(not writerproc.available(), reason="no writer process on this platform")
def test_a_recorder_dropped_without_close_gives_its_memory_back(tmp_path, data, monkeypatch):
    """At the next job sent once its last write is done (a notebook cell run again): the
    memfd is closed and the process told to forget it; the dropped recorder's files are
    whole."""
    import gc

    logits, labels = data
    forgotten: list[int] = []
    forget = writerproc.Writer.forget
    monkeypatch.setattr(
        writerproc.Writer, "forget", lambda self, key: (forgotten.append(key), forget(self, key))
    )

    def record(folder, epochs):
        rec = Recorder(folder, ordered=True)
        for e in epochs:
            rec.add(logits[e], labels)
            rec.end_epoch(e)
        return rec, rec._background._shm

    with writes_held("process", monkeypatch):
        process, key, buf = record(tmp_path / "a", (0, 1))[1]  # dropped, not flushed
        gc.collect()
        assert process.dropped == [(key, buf)]
        other, _ = record(tmp_path / "b", (0,))  # epoch 1 of "a" is not written: kept
        assert process.dropped == [(key, buf)] and buf.fd >= 0
    deadline = time.monotonic() + 60
    while not all(t.done() for t in process.waiting.values()):
        assert time.monotonic() < deadline
        time.sleep(0.005)
    other.add(logits[1], labels)
    other.end_epoch(1)  # the next job sent: "a" is given back
    assert process.dropped == [] and buf.fd == -1 and key in forgotten
    assert not any(t.buf is buf for t in process.waiting.values())
    other.close()
    assert predaudit.load_run(tmp_path / "a").splits["val"].epochs == [0, 1]
    assert predaudit.load_run(tmp_path / "b").splits["val"].epochs == [0, 1]
