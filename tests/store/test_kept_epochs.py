"""``analyze --no-cache`` keeps only the compared epochs' columns (store.columns.KeepEpochs).

The kept rows are the full store's rows bit for bit, every other epoch raises instead of
giving a value, the running best epoch is the one ``best_epoch`` picks from the totals, and
the report is the one computed from every epoch's columns (with the cache), for every way
of naming the compared epochs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from predaudit.analysis.epochs import best_epoch, resolve_pair
from predaudit.cli import main
from predaudit.errors import OptionError
from predaudit.io.arrays import arrays_layout
from predaudit.store.build import compute_split, load_run
from predaudit.store.columns import KeepEpochs, NotKept
from predaudit.store.stats import COLUMNS

E, N, C = 7, 2000, 5


def _run(dip: int = 3, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Logits whose mean loss falls to a minimum at epoch index ``dip``, then rises."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, C, N)
    y[::53] = -100
    x = rng.standard_normal((E, N, C)).astype(np.float32)
    onehot = np.eye(C, dtype=np.float32)[np.maximum(y, 0)]
    for e in range(E):
        x[e] += onehot * (3.0 - 0.6 * abs(e - dip))  # sharpest at the dip
    return x, y


@pytest.mark.parametrize("dip", [0, 3, E - 1])
@pytest.mark.parametrize("spec", [(None, None), ("first", "last"), ("2", "5"), ("best", "4")])
def test_kept_rows_are_the_full_rows(dip: int, spec: tuple[str | None, str | None]) -> None:
    x, y = _run(dip)
    lay = arrays_layout(list(x), y)
    full = compute_split(lay, spill=False)
    kept = compute_split(lay, keep=KeepEpochs(*spec))
    np.testing.assert_array_equal(kept.epoch_totals, full.epoch_totals)
    np.testing.assert_array_equal(kept.p_true_moments, full.p_true_moments)
    start, end = spec
    b = full.epochs[-1] if end in (None, "last") else int(end)
    if start is None:  # analyze's default: the best epoch up to the last, or the first
        needed = {best_epoch(full, upto=b), b, full.epochs[0]}
    else:
        try:
            needed = set(resolve_pair(full, start, end or "last"))
        except OptionError:  # the same epoch twice: reported before any column is read
            needed = set()
    # kept: the first, the last, the labels given and the best up to ``to``
    kept_epochs = {full.epochs[0], full.epochs[-1], b, best_epoch(full, upto=b)}
    kept_epochs |= {int(s) for s in spec if s is not None and s.isdigit()}
    assert needed <= kept_epochs
    for name in COLUMNS[:8]:
        col, ref = getattr(kept, name), getattr(full, name)
        assert col.shape == ref.shape and col.dtype == ref.dtype
        for i, epoch in enumerate(full.epochs):
            if epoch in kept_epochs:
                np.testing.assert_array_equal(col[i], ref[i])
                assert not col[i].flags.writeable
            elif name not in ("labels", "valid"):  # labels: one row for every epoch
                with pytest.raises(NotKept):
                    col[i]


def test_running_best_follows_every_new_minimum() -> None:
    """Mean loss falling at every epoch: each epoch in turn is the best so far."""
    x, y = _run(dip=E - 1)
    full = compute_split(arrays_layout(list(x), y), spill=False)
    kept = compute_split(arrays_layout(list(x), y), keep=KeepEpochs())
    assert best_epoch(full) == full.epochs[-1]
    np.testing.assert_array_equal(kept.loss[0], full.loss[0])
    np.testing.assert_array_equal(kept.loss[-1], full.loss[-1])
    with pytest.raises(NotKept):
        kept.loss[E - 2]


def test_changed_label_reads_every_epoch() -> None:
    """A label that changes needs the data map of every epoch's columns: load_run reduces
    the split again with all of them."""
    x, y = _run()
    labels = [y.copy() for _ in range(E)]
    labels[4][:30] = (labels[4][:30] + 1) % C
    labels[4][:30][y[:30] == -100] = -100
    run = load_run_arrays(x, labels)
    assert not run.labels_stable
    for i in range(E):
        assert run.loss[i].shape == (N,)  # every epoch readable


def load_run_arrays(x: np.ndarray, labels: list[np.ndarray]):  # type: ignore[no-untyped-def]
    from predaudit.store.build import _split_stats

    return _split_stats(
        arrays_layout(list(x), labels), None, None, None, use_cache=False, keep=KeepEpochs()
    )


def _cli(*args: str, env: dict[str, str]) -> dict:  # type: ignore[type-arg]
    res = CliRunner().invoke(main, ["analyze", *args, "--format", "json", "--quiet"], env=env)
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


@pytest.mark.parametrize(
    "extra", [[], ["--top", "5"], ["--from", "first"], ["--from", "2", "--to", "5"]]
)
def test_no_cache_report_is_the_full_report(tmp_path: Path, extra: list[str]) -> None:
    x, y = _run()
    run = tmp_path / "run"
    run.mkdir()
    np.save(run / "logits.npy", x)
    np.save(run / "labels.npy", y)
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    cached = _cli(str(run), *extra, env=env)  # every epoch's columns, then the cache's
    again = _cli(str(run), *extra, env=env)
    no_cache = _cli(str(run), *extra, "--no-cache", env=env)
    assert cached == again == no_cache
    assert load_run(run).splits["default"].loss.shape == (E, N)
