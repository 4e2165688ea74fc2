"""The generated benchmark runs: declared shapes and layout, a model that learns then over-fits."""

from __future__ import annotations

import json
import runpy
import shutil
import sys

import genruns
import harness
import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from click.testing import CliRunner
from genruns import Spec

from predaudit.cli import main


def torch_curve(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-epoch mean loss and accuracy by PyTorch (float64)."""
    x, y = torch.from_numpy(np.asarray(logits, dtype=np.float64)), torch.from_numpy(labels)
    if x.ndim == 2:  # [E, N]: one logit per sample
        loss = F.binary_cross_entropy_with_logits(x, y.double().expand_as(x), reduction="none")
        right = (x > 0).long() == y
    else:
        loss = F.cross_entropy(x.permute(0, 2, 1), y.expand(x.shape[0], -1), reduction="none")
        right = x.argmax(dim=2) == y
    return loss.mean(dim=1).numpy(), right.double().mean(dim=1).numpy()


@pytest.mark.parametrize("classes", [1, 10, 1000])
def test_stacked_run_has_the_declared_shape_and_learns(tmp_path, monkeypatch, classes):
    spec = Spec(10, 2000 if classes == 1000 else 4000, classes)
    # four chunks per epoch, the last one shorter
    monkeypatch.setattr(genruns, "CHUNK_ELEMENTS", spec.samples * classes // 3 - classes)
    scores, label_path = genruns.write_stacked(tmp_path / "run", spec)
    logits, labels = np.load(scores), np.load(label_path)
    assert logits.dtype == np.float32 and logits.shape == spec.shape
    assert scores.stat().st_size == spec.nbytes + 128  # a version-2 header: 12 + padding
    assert labels.dtype == np.int64 and labels.shape == (spec.samples,)
    assert labels.min() >= 0 and labels.max() < max(2, classes)
    if classes <= 10:
        assert set(np.unique(labels)) == set(range(max(2, classes)))
    loss, acc = torch_curve(logits, labels)
    assert np.all((acc >= 0.5) & (acc <= 0.95)), acc
    tolerance = 4 * np.sqrt(0.25 / spec.samples)
    assert np.allclose(acc, genruns.target_accuracy(spec.epochs), atol=tolerance)
    best = int(np.argmin(loss))
    assert 0 < best < spec.epochs - 1 and loss[-1] > loss[best] * 1.02  # it over-fits


def test_a_complete_run_is_reused_and_another_spec_rewritten(tmp_path):
    spec = Spec(3, 100, 10)
    scores, _ = genruns.write_stacked(tmp_path, spec)
    mtime = scores.stat().st_mtime_ns
    assert genruns.write_stacked(tmp_path, spec)[0].stat().st_mtime_ns == mtime
    other = Spec(4, 100, 10)
    assert np.load(genruns.write_stacked(tmp_path, other)[0]).shape == other.shape


def test_per_epoch_run_is_the_recorders_layout(tmp_path):
    spec = Spec(5, 3000, 10, layout="per_epoch")
    run = genruns.write(tmp_path / "run", spec)
    files = sorted((run / "test").glob("*.npz"))
    assert [f.name for f in files] == [f"epoch_{e:04d}.npz" for e in range(1, 6)]
    logits, labels = [], None
    for f in files:
        with np.load(f) as z:
            assert {"logits", "labels", "ids"} <= set(z.files)
            assert z["logits"].shape == (3000, 10) and z["logits"].dtype == np.float32
            np.testing.assert_array_equal(z["ids"], np.arange(3000))
            if labels is not None:
                np.testing.assert_array_equal(z["labels"], labels)
            labels = z["labels"]
            logits.append(z["logits"])
    _, acc = torch_curve(np.stack(logits), labels)
    assert np.allclose(acc, genruns.target_accuracy(5), atol=4 * np.sqrt(0.25 / 3000))


@pytest.mark.skipif(shutil.which("/usr/bin/time") is None, reason="GNU time is not installed")
def test_the_writer_holds_one_chunk_not_the_run(tmp_path):
    """Writing a 200 MB run in 4 MiB chunks peaks under 100 MiB (GNU time's peak RSS)."""
    code = (
        "import sys; from pathlib import Path; import genruns; genruns.CHUNK_ELEMENTS = 1 << 20; "
        "genruns.write_stacked(Path(sys.argv[1]), genruns.Spec(10, 500_000, 10))"
    )
    env = {"PYTHONPATH": str(genruns.__file__).rsplit("/", 1)[0]}
    t = harness.timed([sys.executable, "-c", code, str(tmp_path)], env)
    assert t.returncode == 0, t.stderr
    assert (tmp_path / "logits.npy").stat().st_size > 200e6
    assert t.rss_mib < 100


@pytest.mark.parametrize(
    "spec", [Spec(6, 2000, 10), Spec(6, 2000, 1), Spec(6, 2000, 10, layout="per_epoch")]
)
def test_the_bare_script_does_predaudits_work(tmp_path, monkeypatch, capsys, spec):
    """The script the benchmark times prints predaudit's per-epoch loss and accuracy."""
    run = genruns.write(tmp_path / "run", spec)
    bare, _ = harness.write_scripts(tmp_path)
    files = [str(run / "logits.npy"), str(run / "labels.npy")] if spec.layout == "stacked" else []
    monkeypatch.setattr(sys, "argv", [str(bare), str(run), *files])
    runpy.run_path(str(bare), run_name="__main__")
    script = capsys.readouterr().out
    result = CliRunner().invoke(main, ["analyze", str(run), "--format", "json", "--quiet"])
    assert result.exit_code == 0, result.output
    per_epoch = next(iter(json.loads(result.output)["splits"].values()))["per_epoch"]
    rows = [line.split() for line in script.splitlines()]
    assert [int(r[0]) for r in rows] == [p["epoch"] for p in per_epoch]
    assert np.allclose([float(r[1]) for r in rows], [p["loss"] for p in per_epoch], rtol=1e-5)
    assert [float(r[2]) for r in rows] == [p["accuracy"] for p in per_epoch]
