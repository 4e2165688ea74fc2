"""Naming rules, defined once: array keys, file suffixes and epoch numbers in names."""

from __future__ import annotations

import re

from predaudit.report.vocab import EpochUnit

SCORE_KEYS = (
    "logits",
    "outputs",
    "predictions",
    "preds",
    "probs",
    "scores",
    "log_probs",
    "y_pred",
    "y_score",
    "probabilities",
)
LABEL_KEYS = (
    "labels",
    "targets",
    "y",
    "label_ids",
    "label",
    "target",
    "y_true",
    "y_test",
    "y_val",
    "gold",
)
ID_KEYS = ("ids", "sample_ids", "indices", "guid", "id", "index", "uid")
ALL_KEYS = SCORE_KEYS + LABEL_KEYS + ID_KEYS
META_KEY = "__meta__"
"""The recorder's JSON metadata beside the arrays (split, kind, version, rank); readers skip it."""

TABLES = (".csv", ".parquet", ".feather", ".arrow")
"""Tables (read with pyarrow, the ``tables`` extra): one row per sample, one column per class."""
SUFFIXES = (".npy", ".npz", ".pt", ".pth", ".jsonl", ".safetensors", *TABLES, ".zarr")
"""Files predaudit reads (a ``.zarr`` store is a folder read as one file)."""
CONTAINERS = (".npz", ".pt", ".pth", ".safetensors", *TABLES, ".zarr")
"""Suffixes of files that hold several named arrays."""

EPOCH_IN_NAME = re.compile(r"(?:^|[_-])?epoch[_=-]?(\d+)$", re.IGNORECASE)
"""``epoch_7``, ``val-epoch3``, ``epoch07``, ``epoch=3``: the epoch number at the end of a stem."""
STEP_IN_NAME = re.compile(
    r"(?:^|[_-])?(?:checkpoint|ckpt|global[_-]?step|step)[_=-]?(\d+)$", re.IGNORECASE
)
"""``checkpoint-500``, ``step_1000``, ``global_step12``, ``ckpt-7``: a step (checkpoint) number."""
LIGHTNING_IN_NAME = re.compile(r"(?:^|[_-])?epoch=(\d+)[_-]step=(\d+)$", re.IGNORECASE)
"""Lightning's ``epoch=3-step=400``: labelled by its step (400), which orders evaluations."""

NOT_PREDICTIONS = re.compile(
    r"^(optimizer|scheduler|scaler|rng_state(_\d+)?|training_args|model|pytorch_model"
    r"|adapter_model|tf_model|flax_model|trainer_state|config|generation_config"
    r"|tokenizer|special_tokens_map|tokenizer_config|preprocessor_config)$",
    re.IGNORECASE,
)
"""Stems of the files training frameworks save in a checkpoint folder beside the predictions."""


def number_in_name(stem: str) -> tuple[int, EpochUnit, str] | None:
    """The evaluation number at the end of a name, its unit, and the name before it.

    >>> number_in_name("checkpoint-500"), number_in_name("val_epoch_3")
    ((500, 'step', ''), (3, 'epoch', 'val'))
    >>> number_in_name("epoch=3-step=400"), number_in_name("logits")
    ((400, 'step', ''), None)
    """
    m = LIGHTNING_IN_NAME.search(stem)
    if m is not None:
        return int(m.group(2)), "step", stem[: m.start()].rstrip("_-")
    patterns: tuple[tuple[re.Pattern[str], EpochUnit], ...] = (
        (STEP_IN_NAME, "step"),
        (EPOCH_IN_NAME, "epoch"),
    )
    for pattern, unit in patterns:
        m = pattern.search(stem)
        if m is not None:
            return int(m.group(1)), unit, stem[: m.start()].rstrip("_-")
    return None


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
    found = number_in_name(stem)
    return stem if found is None else found[2]
