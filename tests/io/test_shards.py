"""Sharded epochs (``epoch_0003.rank1.npz``): merged by id, padding duplicates dropped."""

from __future__ import annotations

import numpy as np
import pytest

import predaudit
from predaudit.errors import InputError
from predaudit.io.discover import discover
from predaudit.record import Recorder
from predaudit.record import buffer as buffer_module
from predaudit.store.cache import _sources

N, C = 11, 3


def write_shards(tmp_path, monkeypatch, logits, labels, epochs=(1, 2), world=2, tamper=None):
    """What DistributedSampler gives each rank: indices padded to a multiple of ``world``."""
    padded = list(range(N)) + list(range((-N) % world))
    for rank in range(world):
        monkeypatch.setattr(buffer_module, "distributed_rank", lambda r=rank: (r, world))
        rec = Recorder(tmp_path, split="val", background=False)
        idx = np.array(padded[rank::world])
        for e in epochs:
            scores = logits[e - 1][idx].copy()
            if tamper is not None and rank == 1:
                scores = tamper(idx, scores)
            for a in range(0, len(idx), 2):
                rec.add(scores[a : a + 2], labels[idx[a : a + 2]], ids=idx[a : a + 2])
            rec.end_epoch(e)


@pytest.fixture
def arrays():
    rng = np.random.default_rng(3)
    return rng.normal(size=(2, N, C)).astype(np.float32), rng.integers(0, C, N)


def test_shards_merge_by_id_and_drop_padding(tmp_path, monkeypatch, arrays):
    logits, labels = arrays
    write_shards(tmp_path, monkeypatch, logits, labels)
    names = sorted(p.name for p in (tmp_path / "val").iterdir())
    assert names == [f"epoch_000{e}.rank{r}.npz" for e in (1, 2) for r in (0, 1)]
    # rank 1 holds id 0 again (the padding): the same values, dropped when merged
    with np.load(tmp_path / "val" / "epoch_0001.rank1.npz") as z:
        assert 0 in z["ids"] and len(z["ids"]) == 6
    layout = discover(tmp_path).splits["val"]
    assert [e for e, _ in layout.epoch_files] == [1, 2]
    assert len(layout.files) == 4
    assert len(_sources(layout)) == 4  # the cache fingerprints every shard
    s = predaudit.load_run(tmp_path).splits["val"]
    ref = predaudit.from_arrays(logits, labels, ids=np.arange(N)).splits["default"]
    assert s.n_samples == N and s.epochs == [1, 2]
    np.testing.assert_allclose(s.loss, ref.loss, rtol=1e-12)
    np.testing.assert_array_equal(s.correct, ref.correct)


def test_same_id_with_other_scores_is_an_error_naming_both_files(tmp_path, monkeypatch, arrays):
    logits, labels = arrays

    def tamper(idx, scores):
        scores[idx == 0] += 1.0  # rank 1's copy of the padded sample 0 differs
        return scores

    write_shards(tmp_path, monkeypatch, logits, labels, epochs=(1,), tamper=tamper)
    with pytest.raises(InputError) as err:
        predaudit.load_run(tmp_path)
    msg = str(err.value)
    assert "epoch_0001.rank0.npz" in msg and "epoch_0001.rank1.npz" in msg
    assert "sample id 0 has different scores in two shards of epoch 1" in msg


def test_a_missing_shard_is_an_error(tmp_path, monkeypatch, arrays):
    logits, labels = arrays
    write_shards(tmp_path, monkeypatch, logits, labels, epochs=(1,), world=3)
    (tmp_path / "val" / "epoch_0001.rank2.npz").unlink()
    with pytest.raises(InputError, match="written by 3 processes but the shard of rank 2 is miss"):
        predaudit.load_run(tmp_path)


def test_whole_and_sharded_epoch_together_is_an_error(tmp_path, monkeypatch, arrays):
    logits, labels = arrays
    write_shards(tmp_path, monkeypatch, logits, labels, epochs=(1,))
    monkeypatch.setattr(buffer_module, "distributed_rank", lambda: (0, 1))
    rec = Recorder(tmp_path, background=False)
    rec.add(logits[0], labels, ids=np.arange(N))
    with pytest.raises(FileExistsError, match="epoch 1 of split 'val' exists"):
        rec.end_epoch(1)
    np.savez(tmp_path / "val" / "epoch_1.npz", logits=logits[0], labels=labels, ids=np.arange(N))
    with pytest.raises(InputError, match="has epoch 1 both whole and in shards"):
        discover(tmp_path)


def test_a_shard_needs_ids(tmp_path, arrays):
    logits, labels = arrays
    (tmp_path / "val").mkdir()
    for r in (0, 1):
        np.savez(tmp_path / "val" / f"epoch_1.rank{r}.npz", logits=logits[0], labels=labels)
    with pytest.raises(InputError, match=r"rank0\.npz: is a shard without sample ids"):
        predaudit.load_run(tmp_path)


def test_ordered_without_ids_is_refused_under_distributed(tmp_path, monkeypatch, arrays):
    logits, labels = arrays
    monkeypatch.setattr(buffer_module, "distributed_rank", lambda: (1, 2))
    rec = Recorder(tmp_path, ordered=True, background=False)
    with pytest.raises(predaudit.OptionError, match="under torch.distributed give each sample"):
        rec.add(logits[0], labels)
    rec = Recorder(
        tmp_path, ordered=True, sharded=False, background=False
    )  # gathered already: positions are fine
    rec.add(logits[0], labels)
    assert rec.end_epoch(1).name == "epoch_0001.npz"
