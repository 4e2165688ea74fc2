"""bench_scale's verdicts on hand-made measurements (medians, ratios, the peak over rounds)."""

from __future__ import annotations

import bench_scale
from genruns import Spec


def make_row(spec: Spec, walls: dict[str, list[float]], rss_mib: dict[str, list[int]]):
    row = bench_scale.Row(spec)
    row.walls = walls
    row.rss = {case: [m * 1024 for m in v] for case, v in rss_mib.items()}
    row.read_s, row.read_bytes = [0.5, 0.4, 0.6], 1_000_000_000
    return row


def test_the_e40_targets_on_a_hand_made_row():
    spec = bench_scale.SHAPES["e40"]
    row = make_row(
        spec,
        # medians: 4.1 s, 0.9 s, 10 s -> 0.41x (over 0.40) and 0.09x (under 0.10)
        {"no-cache": [3.9, 5.0, 4.1], "cached": [0.9, 0.8, 1.2], "script": [10.0, 9.0, 11.0]},
        # the largest round counts: 1025 MiB is over 1 GiB
        {"no-cache": [900, 1025, 1000], "cached": [100, 100, 100], "script": [400, 400, 400]},
    )
    (line,) = bench_scale.table([row], {spec: "e40"})[2:]
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[:8] == [
        "[40, 1000000, 10]",
        "1.60 GB",
        "4.10 s, 1025 MiB",
        "0.90 s, 100 MiB",
        "10.00 s, 400 MiB",
        "0.41×",
        "0.09×",
        "0.50 s (2.00 GB/s)",
    ]
    assert cells[9] == "no-cache ≤ 0.40×: FAIL; cached ≤ 0.10×: PASS; RSS ≤ 1 GiB: FAIL"


def test_300_mb_is_286_mib_and_a_failure_is_named():
    spec = bench_scale.SHAPES["c1000"]
    ok = make_row(spec, {"no-cache": [2.5], "script": [10.0]}, {"no-cache": [286]})
    over = make_row(spec, {"no-cache": [2.6], "script": [10.0]}, {"no-cache": [287]})
    names = {spec: "c1000"}
    assert bench_scale.table([ok], names)[2].endswith(
        "| no-cache ≤ 0.25×: PASS; RSS ≤ 300 MB: PASS |"
    )
    assert bench_scale.table([over], names)[2].endswith(
        "| no-cache ≤ 0.25×: FAIL; RSS ≤ 300 MB: FAIL |"
    )
    over.failed = {
        "cached": "exit 3: Error: x.npy: broken",
        "no-cache": "exit 3: Error: x.npy: broken",
    }
    assert (
        "cached, no-cache failed (exit 3: Error: x.npy: broken)"
        in bench_scale.table([over], names)[2]
    )
