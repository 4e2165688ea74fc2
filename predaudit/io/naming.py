"""Naming rules, defined once: array keys, file suffixes and epoch numbers in names."""

from __future__ import annotations

import re

SCORE_KEYS = ("logits", "outputs", "predictions", "preds", "probs", "scores", "log_probs")
LABEL_KEYS = ("labels", "targets", "y", "label_ids")
ID_KEYS = ("ids", "sample_ids", "indices", "guid")
ALL_KEYS = SCORE_KEYS + LABEL_KEYS + ID_KEYS
META_KEY = "__meta__"
"""The recorder's JSON metadata beside the arrays (split, kind, version, rank); readers skip it."""

SUFFIXES = (".npy", ".npz", ".pt", ".pth", ".jsonl")
"""Files predaudit reads."""
CONTAINERS = (".npz", ".pt", ".pth")
"""Suffixes of files that hold several named arrays."""

EPOCH_IN_NAME = re.compile(r"(?:^|[_-])?epoch[_-]?(\d+)$", re.IGNORECASE)
"""``epoch_7``, ``val-epoch3``, ``epoch07``: the epoch number at the end of a file stem."""

RANK_IN_NAME = re.compile(r"\.rank(\d+)$", re.IGNORECASE)
"""``epoch_0003.rank1``: one process's shard of an epoch (distributed evaluation)."""


def split_rank(stem: str) -> tuple[str, int | None]:
    """A stem without its shard rank, and the rank: ``epoch_0003.rank1`` -> ``epoch_0003``, 1."""
    m = RANK_IN_NAME.search(stem)
    if m is None:
        return stem, None
    return stem[: m.start()], int(m.group(1))


def epoch_file_name(epoch: int, rank: int | None = None) -> str:
    """The canonical name of a recorded epoch: ``epoch_0003.npz``, or ``epoch_0003.rank1.npz``."""
    return f"epoch_{epoch:04d}" + ("" if rank is None else f".rank{rank}") + ".npz"


def key_from_stem(stem: str) -> str | None:
    """The array key a file name ends with (``test_logits`` -> ``logits``), longest first."""
    low = stem.lower()
    for key in sorted(ALL_KEYS, key=len, reverse=True):
        if low == key or low.endswith("_" + key) or low.endswith("-" + key):
            return key
    return None


def strip_epoch(stem: str) -> str:
    """The stem without its epoch number: ``test_logits_epoch_3`` -> ``test_logits``."""
    return EPOCH_IN_NAME.sub("", stem)
