"""The program leaves without the interpreter's teardown, and nothing visible changes.

Each case runs a real process: what it printed (buffered, no newline), what its exit
handlers did and its exit status are compared with what Python's own exit gives.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "stacked"

SCRIPT = textwrap.dedent(
    """
    import atexit, sys, threading, weakref
    from predaudit.exiting import leave

    class Thing:
        pass

    thing = Thing()
    weakref.finalize(thing, print, "finalized", flush=False)
    atexit.register(lambda: sys.stdout.write("atexit ran, "))
    sys.stdout.write("out, no newline ")
    sys.stderr.write("err, no newline ")
    if sys.argv[2] == "thread":
        stop = threading.Event()
        threading.Thread(target=stop.wait, args=(0.2,), name="busy").start()
    code = eval(sys.argv[1])
    leave(code)
    sys.stdout.write("returned ")
    sys.exit(code)
    """
)


def run(code: str, thread: str = "none") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, code, thread], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(("code", "status"), [("0", 0), ("None", 0), ("3", 3), ("4", 4)])
def test_leave_runs_the_exit_handlers_and_flushes(code: str, status: int) -> None:
    res = run(code)
    assert res.returncode == status
    assert res.stdout == "out, no newline atexit ran, finalized\n"
    assert res.stderr == "err, no newline "


def test_leave_returns_when_a_thread_is_busy_or_the_status_is_text() -> None:
    res = run("2", "thread")
    assert (res.returncode, res.stdout) == (2, "out, no newline returned atexit ran, finalized\n")
    res = run("'a message'")
    assert res.returncode == 1
    assert res.stdout == "out, no newline returned atexit ran, finalized\n"
    assert res.stderr == "err, no newline a message\n"


def test_the_program_exits_with_its_codes_and_output(tmp_path: Path) -> None:
    exe = [sys.executable, "-m", "predaudit"]
    out = tmp_path / "out"
    res = subprocess.run(
        [*exe, "analyze", str(SAMPLE), "--split", "test", "--out", str(out), "--format", "json"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert (res.returncode, res.stderr) == (0, f"Wrote 6 files to {out}/\n")
    assert res.stdout.rstrip().endswith("}")  # the whole JSON document, flushed
    assert sorted(p.name for p in out.iterdir()) == [
        "loss_accuracy.png", "loss_split.png", "per_sample.csv", "report.json",
        "rise_samples.png", "transitions.png",
    ]  # fmt: skip
    missing = tmp_path / "missing"
    res = subprocess.run([*exe, "analyze", str(missing)], capture_output=True, text=True)
    assert (res.returncode, res.stderr) == (3, f"Error: {missing}: does not exist\n")
    res = subprocess.run([*exe, "analyze", str(SAMPLE), "--format", "nope"], capture_output=True)
    assert res.returncode == 2 and b"Invalid value for '--format'" in res.stderr
