"""engine.local.tune_allocator: freed scratch memory is reused, not faulted in again."""

from __future__ import annotations

import subprocess
import sys

import pytest

CODE = """
import resource, sys
import numpy as np
from predaudit.engine.local import tune_allocator
if sys.argv[1] == "tuned":
    assert tune_allocator() is True
    assert tune_allocator() is True  # once a process, then remembered
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(200):  # what an epoch's reduction does: a few MB allocated, used, freed
    bufs = [np.ones(n) for n in (50_000, 100_000, 130_000)]
    del bufs
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults)
"""


def faults(mode: str, env: dict[str, str] | None = None) -> int:
    r = subprocess.run(
        [sys.executable, "-c", CODE, mode], capture_output=True, text=True, env=env, check=True
    )
    return int(r.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_tuned_allocator_reuses_freed_blocks() -> None:
    plain, tuned = faults("plain"), faults("tuned")
    # 200 rounds of 2.2 MB: about 110,000 page faults when each block is mapped afresh
    assert tuned * 10 < plain, (plain, tuned)


def test_the_users_malloc_settings_win(monkeypatch: pytest.MonkeyPatch) -> None:
    import predaudit.engine.local as local

    monkeypatch.setattr(local, "_TUNED", [])
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    assert local.tune_allocator() is False
