"""Shared pieces of the whole-process benchmarks (bench_end_to_end.py, bench_scale.py).

Not a test and not part of predaudit: importable so that the benchmarks share one copy
and tests/benchmarks can check the parts that decide a figure.

- :func:`parse_time_v` reads the report of GNU ``/usr/bin/time -v``;
- :func:`timed` runs one command as a whole process under it (wall clock from the
  parent, peak resident set size from the report: the pages of memory-mapped files
  the process touched count);
- :data:`BARE` is the script a user would otherwise write (load each epoch, PyTorch
  ``cross_entropy(reduction="none")`` and ``argmax``; for a single logit per sample
  ``binary_cross_entropy_with_logits`` and ``> 0``);
- :data:`READ_PASS` reads a run's files from the page cache (``np.load(mmap_mode="r")``
  and a sum per chunk): the floor under any tool that reads every score once;
- :func:`machine_line` says what machine and how loaded it was.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

BARE = """\
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


def reduce(logits, labels):
    if logits.ndim == 1:  # one logit per sample: binary
        loss = F.binary_cross_entropy_with_logits(logits, labels.float(), reduction="none")
        pred = (logits > 0).long()
    else:
        loss = F.cross_entropy(logits, labels, reduction="none")
        pred = logits.argmax(dim=1)
    return float(loss.mean()), float((pred == labels).double().mean())


run = Path(sys.argv[1])
if sys.argv[2:]:  # stacked: SCORES.npy [E, N, C] or [E, N], LABELS.npy [N]
    scores = np.load(sys.argv[2], mmap_mode="r")
    labels = torch.from_numpy(np.load(sys.argv[3]))
    for epoch in range(scores.shape[0]):
        logits = torch.from_numpy(np.array(scores[epoch]))
        print(epoch + 1, *reduce(logits, labels))
else:  # one .npz per epoch: logits, labels (and ids)
    for epoch, path in enumerate(sorted(run.rglob("epoch_*.npz"))):
        with np.load(path) as z:
            logits, labels = torch.from_numpy(z["logits"]), torch.from_numpy(z["labels"])
        print(epoch + 1, *reduce(logits, labels))
"""
"""``python bare.py RUN [SCORES LABELS]``: prints ``epoch mean_loss accuracy`` per epoch."""

READ_PASS = """\
import sys
import time
from pathlib import Path

import numpy as np

CHUNK = 1 << 22  # elements
t0 = time.perf_counter()
total, nbytes = 0.0, 0
for path in sorted(Path(sys.argv[1]).rglob("*")):
    if path.suffix == ".npy":
        flat = np.load(path, mmap_mode="r").reshape(-1)
        for a in range(0, flat.size, CHUNK):
            total += float(flat[a : a + CHUNK].sum())
        nbytes += flat.nbytes
    elif path.suffix == ".npz":
        with np.load(path) as z:
            for key in z.files:
                arr = z[key]
                if arr.dtype.kind in "fiu":
                    total += float(arr.sum())
                    nbytes += arr.nbytes
print(time.perf_counter() - t0, nbytes, total)
"""
"""``python read_pass.py RUN``: prints ``seconds bytes checksum`` of one pass over the run."""


@dataclass(frozen=True)
class Timing:
    """One whole-process run: wall seconds, peak RSS in KiB, exit status and output."""

    wall: float
    rss_kib: int
    returncode: int
    stdout: str
    stderr: str

    @property
    def rss_mib(self) -> float:
        return self.rss_kib / 1024


def parse_time_v(report: str) -> dict[str, float]:
    """The numbers of a GNU ``time -v`` report.

    Keys: ``max_rss_kib`` (peak resident set size, KiB), ``elapsed_s`` (wall clock,
    seconds), ``user_s``, ``system_s``, ``exit_status``. Raises ``ValueError`` when
    the report has no peak RSS line (not GNU time, or the command never ran).
    """
    patterns = {
        "max_rss_kib": r"Maximum resident set size \(kbytes\): (\d+)",
        "user_s": r"User time \(seconds\): ([\d.]+)",
        "system_s": r"System time \(seconds\): ([\d.]+)",
        "exit_status": r"Exit status: (\d+)",
    }
    out: dict[str, float] = {}
    for key, pattern in patterns.items():
        m = re.search(pattern, report)
        if m:
            out[key] = float(m.group(1))
    if "max_rss_kib" not in out:
        raise ValueError("no 'Maximum resident set size' line in the time -v report")
    m = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", report)
    if m:
        seconds = 0.0
        for part in m.group(1).split(":"):
            seconds = seconds * 60 + float(part)
        out["elapsed_s"] = seconds
    return out


_COMPILED: list[bool] = []


def compile_predaudit() -> None:
    """Byte-compile the predaudit package being measured, once, as ``pip install`` does:
    with ``PYTHONDONTWRITEBYTECODE`` set (or a source checkout never imported before)
    every process would otherwise compile its 100-odd modules again at start-up."""
    if not _COMPILED:
        import compileall

        import predaudit

        compileall.compile_dir(str(Path(predaudit.__file__).parent), quiet=1)
        _COMPILED.append(True)


def timed(cmd: Sequence[str], env: Mapping[str, str] | None = None) -> Timing:
    """Run ``cmd`` under ``/usr/bin/time -v``; a failed command is returned, not raised.
    The predaudit package is byte-compiled first (:func:`compile_predaudit`)."""
    compile_predaudit()
    fd, name = tempfile.mkstemp(suffix=".time")
    os.close(fd)
    try:
        t0 = time.perf_counter()
        proc = subprocess.run(
            ["/usr/bin/time", "-v", "-o", name, *cmd],
            capture_output=True,
            text=True,
            check=False,
            env=None if env is None else {**os.environ, **env},
        )
        wall = time.perf_counter() - t0
        report = parse_time_v(Path(name).read_text())
    finally:
        os.unlink(name)
    return Timing(wall, int(report["max_rss_kib"]), proc.returncode, proc.stdout, proc.stderr)


def need_gnu_time() -> None:
    if not Path("/usr/bin/time").exists():
        raise SystemExit("needs GNU time: apt-get install -y time")


def predaudit_exe() -> str:
    """The ``predaudit`` console script of this interpreter's environment."""
    return shutil.which("predaudit", path=str(Path(sys.executable).parent)) or "predaudit"


def write_scripts(folder: Path) -> tuple[Path, Path]:
    """Write ``bare.py`` and ``read_pass.py`` into ``folder``; return their paths."""
    bare, read = folder / "bare.py", folder / "read_pass.py"
    bare.write_text(BARE)
    read.write_text(READ_PASS)
    return bare, read


def warm(folder: Path) -> int:
    """Read every file under ``folder`` once (into the page cache); return the bytes read."""
    total = 0
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with open(path, "rb") as fh:
                while chunk := fh.read(1 << 24):
                    total += len(chunk)
    return total


def machine_line() -> str:
    """CPU model, cores, memory, Python/numpy/torch versions and the load average now."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kib / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        mem = "? GiB"
    import numpy as np

    try:
        import torch

        torch_v = str(torch.__version__)
    except ImportError:
        torch_v = "none"
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem}; {platform.system()} {platform.machine()}; "
        f"Python {platform.python_version()}, numpy {np.__version__}, torch {torch_v}; "
        f"load average {load_average()}"
    )


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def git_commit(repo: Path) -> str:
    """The short commit of ``repo`` (with ``+dirty`` when predaudit/ has changes)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--", "predaudit"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return head + ("+dirty" if dirty else "")
