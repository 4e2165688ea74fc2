"""The installed ``predaudit`` command, run as a CI job runs it: a subprocess, no terminal.

Every exit code (0 checks passed, 1 a check failed, 2 usage error, 3 input error)
with the exact one-line stderr for 2 and 3.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ci_runs import rising_logits, save


def predaudit_command() -> list[str]:
    """The console script installed beside this Python, else on PATH, else ``-m predaudit``."""
    script = Path(sys.executable).parent / ("predaudit.exe" if os.name == "nt" else "predaudit")
    if script.is_file():
        return [str(script)]
    found = shutil.which("predaudit")
    return [found] if found else [sys.executable, "-m", "predaudit"]


def run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("GITHUB_STEP_SUMMARY", "FORCE_COLOR", "NO_COLOR", "CLICOLOR_FORCE")
    }
    return subprocess.run(
        [*predaudit_command(), *args],
        cwd=cwd,
        env={**clean, "COLUMNS": "100", **env},
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ci")
    save(root / "preds", *rising_logits())
    return root


def test_exit_0_checks_pass_plain_text(work):
    res = run(work, "analyze", "preds", "--check", "accuracy >= 0.8", "--check", "loss < 5")
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""  # no progress bar outside a terminal
    assert "\x1b" not in res.stdout
    assert res.stdout.rstrip().endswith("All 2 checks passed.")


def test_exit_1_a_check_failed_with_step_summary(work):
    summary = work / "summary.md"
    res = run(
        work,
        "analyze",
        "preds",
        "--format",
        "json",
        "--check",
        "hypothesis != supported",
        GITHUB_STEP_SUMMARY=str(summary),
    )
    assert res.returncode == 1
    assert res.stderr == ""
    (check,) = json.loads(res.stdout)["checks"]
    assert (check["value"], check["passed"]) == ("supported", False)
    assert summary.read_text(encoding="utf-8").startswith(
        "**❌ predaudit checks: 1 of 1 check failed: hypothesis != supported on default "
        "(value supported).**\n"
    )


def test_no_color_wins_over_force_color(work):
    res = run(work, "analyze", "preds", "--check", "loss > 9", NO_COLOR="1", FORCE_COLOR="1")
    assert res.returncode == 1
    assert not re.search(r"\x1b\[(?:[0-9;]*;)?(?:3[0-9]|4[0-9]|9[0-7])[;m]", res.stdout)


@pytest.mark.parametrize(
    ("args", "stderr"),
    [
        (
            ["--check", "acc >= 0.9"],
            "Error: --check 'acc >= 0.9': unknown metric 'acc'; valid metrics: loss, accuracy, "
            "best_loss, best_accuracy, delta_loss, delta_accuracy, ww_share, ww_hard_fraction, "
            "temperature_share, ece, temperature, hypothesis\n",
        ),
        (
            ["--check", "accuracy = 0.9"],
            "Error: --check 'accuracy = 0.9': unknown operator '='; did you mean '=='? "
            "(operators: < <= > >= == !=)\n",
        ),
    ],
)
def test_exit_2_usage_error_one_line(work, args, stderr):
    res = run(work, "analyze", "preds", *args)
    assert (res.returncode, res.stdout, res.stderr) == (2, "", stderr)


@pytest.mark.parametrize(
    ("args", "stderr"),
    [
        (
            ["--baseline", "base.json", "--check", "loss <= baseline.loss"],
            "Error: base.json: does not exist\n",
        ),
        (
            ["--baseline", "preds/labels.npy"],
            "Error: preds/labels.npy: not valid JSON (not UTF-8 text)\n",
        ),
    ],
)
def test_exit_3_input_error_one_line(work, args, stderr):
    res = run(work, "analyze", "preds", *args)
    assert (res.returncode, res.stdout, res.stderr) == (3, "", stderr)
