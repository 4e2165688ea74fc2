"""The figures of the whole-process benchmarks: GNU time's report, read on real runs."""

from __future__ import annotations

import shutil
import sys

import harness
import pytest

pytestmark = pytest.mark.skipif(
    shutil.which("/usr/bin/time") is None, reason="GNU time (/usr/bin/time) is not installed"
)

MIB = 1024


def test_peak_rss_of_a_process_that_fills_200_mib():
    """A process that writes 200 MiB peaks between 200 MiB and 200 MiB + the interpreter."""
    code = "b = b'x' * (200 * 2**20); print(len(b))"
    small = harness.timed([sys.executable, "-c", "print(1)"])
    big = harness.timed([sys.executable, "-c", code])
    assert big.returncode == 0 and big.stdout.strip() == str(200 * 2**20)
    assert 200 * MIB <= big.rss_kib <= 200 * MIB + small.rss_kib + 16 * MIB
    assert small.rss_kib < 100 * MIB


def test_wall_time_and_exit_status_of_a_real_run(tmp_path):
    code = "import time, sys; time.sleep(0.6); sys.exit(3)"
    report = tmp_path / "report.txt"
    t = harness.timed(["/usr/bin/time", "-v", "-o", str(report), sys.executable, "-c", code])
    # the outer time reports the status of the inner one, which reports the command's
    assert t.returncode == 3
    inner = harness.parse_time_v(report.read_text())
    assert inner["exit_status"] == 3
    assert 0.6 <= inner["elapsed_s"] <= t.wall + 0.01
    assert t.wall >= 0.6
    assert inner["max_rss_kib"] > 1000


def test_elapsed_in_hours_minutes_seconds():
    report = (
        "\tUser time (seconds): 3600.25\n"
        "\tSystem time (seconds): 1.50\n"
        "\tElapsed (wall clock) time (h:mm:ss or m:ss): 1:02:03.50\n"
        "\tMaximum resident set size (kbytes): 123456\n"
        "\tExit status: 0\n"
    )
    got = harness.parse_time_v(report)
    assert got == {
        "max_rss_kib": 123456,
        "user_s": 3600.25,
        "system_s": 1.5,
        "exit_status": 0,
        "elapsed_s": 3600 + 2 * 60 + 3.5,
    }
    assert harness.parse_time_v(report.replace("1:02:03.50", "2:03.50"))["elapsed_s"] == 123.5


def test_a_report_without_peak_rss_is_refused():
    with pytest.raises(ValueError, match="Maximum resident set size"):
        harness.parse_time_v("Command exited with non-zero status 1\n")
