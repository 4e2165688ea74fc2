"""Figures drawn by forked workers: the same files, errors surfacing as without workers.

The jobs below write a line naming the process that ran them, so a test can tell which
jobs a worker ran; the expected files are the ones drawing in order writes.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

import predaudit  # noqa: E402
from predaudit import plots  # noqa: E402
from predaudit.plots import workers  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data" / "stacked"


@pytest.fixture
def forking(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers allowed even when an earlier test left an idle thread behind (a recorder's
    writer, say), which :func:`workers.fork_is_safe` rightly refuses in a real program."""
    if not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        pytest.skip("workers are forked on Linux only")
    monkeypatch.setattr(workers, "fork_is_safe", lambda: True)


def pid_job(path: Path) -> workers.Job:
    """A job writing the id of the process that runs it."""
    return workers.Job(path, lambda: path.write_text(str(os.getpid())))


def writers(tmp_path: Path, n: int) -> list[workers.Job]:
    return [pid_job(tmp_path / f"{i}.txt") for i in range(n)]


@pytest.mark.usefixtures("forking")
def test_workers_draw_the_same_bytes_as_one_process(tmp_path: Path) -> None:
    report = predaudit.analyze(predaudit.load_run(SAMPLE))
    one, many = tmp_path / "one", tmp_path / "many"
    expected = [
        p for name, s in report.splits.items() for p in plots.write_analyze_figures(s, one / name)
    ]
    with workers.drawing(workers=2):
        paths = [
            p for name, s in report.splits.items()
            for p in plots.write_analyze_figures(s, many / name)
        ]  # fmt: skip
        assert not many.exists()  # written when the block ends
    assert len(paths) == 8
    assert [p.name for p in paths] == [p.name for p in expected]
    for a, b in zip(expected, paths, strict=True):
        assert a.read_bytes() == b.read_bytes()
    assert {p for p in many.rglob("*") if p.is_file()} == set(paths)  # no temporary files


@pytest.mark.usefixtures("forking")
def test_jobs_are_shared_between_processes(tmp_path: Path) -> None:
    jobs = writers(tmp_path, 40)
    slow = [workers.Job(j.path, lambda d=j.draw: (time.sleep(0.01), d())) for j in jobs]
    workers.run_jobs(slow, workers=2)
    pids = {int(j.path.read_text()) for j in jobs}
    assert os.getpid() in pids and len(pids) == 2


def test_one_worker_or_one_job_draws_here(tmp_path: Path) -> None:
    workers.run_jobs(writers(tmp_path / "a", 0), workers=2)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    jobs = writers(tmp_path / "a", 1) + writers(tmp_path / "b", 3)
    workers.run_jobs(jobs[:1], workers=4)
    workers.run_jobs(jobs[1:], workers=1)
    assert {int(j.path.read_text()) for j in jobs} == {os.getpid()}


def test_a_busy_thread_means_no_fork(tmp_path: Path) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name="somebody-else")
    thread.start()
    try:
        assert not workers.fork_is_safe()
        jobs = writers(tmp_path, 8)
        workers.run_jobs(jobs, workers=2)
    finally:
        stop.set()
        thread.join()
    assert {int(j.path.read_text()) for j in jobs} == {os.getpid()}


@pytest.mark.usefixtures("forking")
def test_a_job_failing_in_a_worker_is_drawn_again_here(tmp_path: Path) -> None:
    def fail_there() -> None:
        raise RuntimeError("worker trouble")

    _assert_all_drawn_here(tmp_path, fail_there, n_workers=2)


@pytest.mark.usefixtures("forking")
def test_a_worker_that_dies_leaves_its_jobs_to_this_process(tmp_path: Path) -> None:
    _assert_all_drawn_here(tmp_path, lambda: os._exit(9), n_workers=3)


def _assert_all_drawn_here(tmp_path: Path, there: Callable[[], None], n_workers: int) -> None:
    """Six jobs that call ``there`` in a worker process: every file is this process's."""
    parent = os.getpid()

    def only_here(path: Path) -> None:
        if os.getpid() != parent:
            there()
        path.write_text(str(parent))

    jobs = [workers.Job(tmp_path / f"{i}.txt", lambda p=tmp_path / f"{i}.txt": only_here(p))
            for i in range(6)]  # fmt: skip
    workers.run_jobs(jobs, workers=n_workers)
    assert {int(j.path.read_text()) for j in jobs} == {parent}


@pytest.mark.usefixtures("forking")
@pytest.mark.parametrize("n", [1, 2])
def test_an_error_surfaces_as_it_would_without_workers(tmp_path: Path, n: int) -> None:
    """The first job that fails everywhere raises its own exception, workers or not."""

    class Broken(Exception):
        pass

    def broken() -> None:
        raise Broken("cannot be drawn")

    jobs = writers(tmp_path, 3) + [workers.Job(tmp_path / "x.txt", broken)]
    with pytest.raises(Broken, match="cannot be drawn"):
        workers.run_jobs(jobs, workers=n)
    assert not (tmp_path / "x.txt").exists()
    assert not list(tmp_path.glob(".*"))  # no temporary file left


def test_a_block_left_by_an_error_draws_nothing(tmp_path: Path) -> None:
    with pytest.raises(KeyError), workers.drawing(workers=2):
        path = workers.figure_job(tmp_path / "a.txt", lambda: (tmp_path / "a.txt").write_text(""))
        assert path == tmp_path / "a.txt"
        raise KeyError("stop")
    assert list(tmp_path.iterdir()) == []


def test_outside_a_block_a_job_runs_at_once(tmp_path: Path) -> None:
    workers.figure_job(tmp_path / "a.txt", lambda: (tmp_path / "a.txt").write_text("now"))
    assert (tmp_path / "a.txt").read_text() == "now"


@pytest.mark.usefixtures("forking")
@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (RuntimeError("cannot draw"), 4, "Error: internal error (RuntimeError: cannot draw); "
         "rerun with --debug and report it\n"),
        (OSError(28, "No space left on device", "x.png"), 3,
         "Error: x.png: No space left on device\n"),
    ],
)  # fmt: skip
def test_a_figure_that_fails_is_the_command_s_error_and_out_is_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception, code: int, message: str
) -> None:
    """Whichever process draws it, a figure that cannot be written fails the command with
    its exit code (4 for a bug, 3 for a full disk) and leaves no ``--out`` folder."""
    from click.testing import CliRunner

    from predaudit.cli import main
    from predaudit.plots import save

    def broken(split: object) -> None:
        raise error

    monkeypatch.setitem(save._ANALYZE_PLOTTERS, "transitions", broken)
    forks: list[int] = []
    fork = workers._fork
    monkeypatch.setattr(workers, "_fork", lambda: forks.append(1) or fork())
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["analyze", str(SAMPLE), "--out", str(out), "--quiet"])
    assert (res.exit_code, res.stderr) == (code, message)
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert forks  # the workers' path was taken


ORPHAN = """
import os, signal, sys, time
from pathlib import Path
from predaudit.plots import workers

folder, parent = Path(sys.argv[1]), os.getpid()

def job(i):
    def draw():
        if os.getpid() == parent:
            end = time.monotonic() + 10  # once a worker has drawn (it may not have started)
            while not any(folder.glob("*.pid")) and time.monotonic() < end:
                time.sleep(0.01)
            os.kill(parent, signal.SIGKILL)  # killed while its workers draw
        (folder / f"{i}.pid").write_text(str(os.getpid()))
        time.sleep(0.1)
    return workers.Job(folder / f"{i}.pid", draw)

workers.run_jobs([job(i) for i in range(100)], workers=2)
"""


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (not gone, not a zombie waiting to be reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.usefixtures("forking")
def test_a_worker_stops_when_its_parent_is_killed(tmp_path: Path) -> None:
    import subprocess

    res = subprocess.run([sys.executable, "-c", ORPHAN, str(tmp_path)], check=False)
    assert res.returncode == -9
    deadline = time.monotonic() + 5
    pids = {int(p.read_text()) for p in tmp_path.glob("*.pid") if p.read_text()}
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pids and not any(alive(pid) for pid in pids)
    assert len(list(tmp_path.glob("*.pid"))) < 20  # it stopped, not drew all 100 (10 s)
