"""One folder per evaluation: ``checkpoint-500/``, ``step_1000/``, ``epoch=3-step=400/`` …

Training frameworks save each evaluation (or checkpoint) in a folder whose name
carries a number (:func:`predaudit.io.naming.number_in_name`). Such folders are the
epochs of one run, ordered and labelled by that number, whatever prediction files
they hold: ``predictions.npy`` + ``label_ids.npy``, an ``.npz``, a ``.pt``, a table,
with or without a split prefix (``eval_predictions.npy`` is split ``eval``). The
files frameworks save beside them (``optimizer.pt``, ``model.safetensors``,
``trainer_state.json`` …) are skipped: by their name, or because they hold no
score key.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from predaudit.errors import InputError
from predaudit.io.naming import (
    CONTAINERS,
    ID_KEYS,
    LABEL_KEYS,
    NOT_PREDICTIONS,
    SCORE_KEYS,
    SUFFIXES,
    TABLES,
    key_from_stem,
    number_in_name,
)
from predaudit.report.vocab import EpochUnit


def evaluation_number(folder: Path) -> tuple[int, EpochUnit] | None:
    """``checkpoint-500`` -> (500, "step"); None for a folder that is not one evaluation."""
    found = number_in_name(folder.name)
    if found is None or found[2]:
        return None
    return found[0], found[1]


def _peek_keys(path: Path) -> list[str] | None:
    """The array names of a container, read from its header only; None when unknown."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".npz":
            with zipfile.ZipFile(path) as z:
                return [n[:-4] if n.endswith(".npy") else n for n in z.namelist()]
        if suffix == ".safetensors":
            from predaudit.io.safetensors_file import safetensors_keys

            return safetensors_keys(path)
    except (OSError, zipfile.BadZipFile, ValueError):
        return None  # the reader will say what is wrong
    return None


def _is_prediction_file(path: Path) -> bool:
    stem = path.stem
    if NOT_PREDICTIONS.match(stem) or path.suffix.lower() not in SUFFIXES:
        return False
    if key_from_stem(stem) is not None or path.suffix.lower() in TABLES:
        return True
    if path.suffix.lower() not in CONTAINERS:
        return False  # a .npy whose name carries no key
    keys = _peek_keys(path)
    return keys is None or any(k in SCORE_KEYS for k in keys)


def _split_of(path: Path) -> tuple[str, str | None]:
    """Split name (the prefix, else ``default``) and key of a file in an evaluation folder."""
    stem = path.stem
    found = number_in_name(stem)
    if found is not None:
        stem = found[2]
    key = key_from_stem(stem) if stem else None
    prefix = stem[: len(stem) - len(key)].rstrip("_-") if key is not None else ""
    if key is None and path.suffix.lower() in CONTAINERS:
        prefix = ""  # eval.npz, predictions_output.pt: the folder's one container
    return prefix or "default", key


def evaluation_layouts(folders: list[Path]) -> dict[str, dict[str, object]]:
    """Per split: the unit and, per evaluation number, its scores, labels and ids files.

    Returns ``{split: {"unit": unit, "scores": {n: path}, "labels": {n: path},
    "ids": {n: path}}}``; :mod:`predaudit.io.discover` makes them split layouts.
    """
    numbered = []
    for folder in folders:
        found = evaluation_number(folder)
        assert found is not None
        numbered.append((found[0], found[1], folder))
    units = {u for _, u, _ in numbered}
    if len(units) > 1:
        by_unit = {u: next(f for _, v, f in numbered if v == u) for u in sorted(units)}
        raise InputError(
            ", ".join(str(p) for p in by_unit.values()),
            "evaluation folders mix epoch and step numbers; keep one kind of name",
        )
    unit = units.pop()
    seen: dict[int, Path] = {}
    out: dict[str, dict[str, object]] = {}
    for number, _, folder in sorted(numbered, key=lambda t: t[0]):
        if number in seen:
            raise InputError(f"{seen[number]}, {folder}", f"both folders claim {unit} {number}")
        seen[number] = folder
        roles: dict[str, dict[str, list[Path]]] = {}
        for p in sorted(folder.iterdir()):
            one_file = p.is_file() or (p.suffix.lower() == ".zarr" and p.is_dir())  # a store
            if not (one_file and not p.name.startswith((".", "_")) and _is_prediction_file(p)):
                continue
            split, key = _split_of(p)
            container = p.suffix.lower() in CONTAINERS or p.suffix.lower() == ".jsonl"
            role = (
                "labels"
                if key in LABEL_KEYS and not container
                else "ids"
                if key in ID_KEYS and not container
                else "scores"
            )
            roles.setdefault(split, {}).setdefault(role, []).append(p)
        for split, files in roles.items():
            for role, paths in files.items():
                if len(paths) > 1:
                    raise InputError(
                        ", ".join(str(p) for p in paths),
                        f"several files hold {role} for split '{split}' at {unit} {number}; "
                        "keep one",
                    )
            if "scores" not in files:
                first = next(iter(files.values()))[0]
                raise InputError(
                    first, f"has {next(iter(files))} but the folder holds no scores beside it"
                )
            entry = out.setdefault(split, {"unit": unit, "scores": {}, "labels": {}, "ids": {}})
            for role, paths in files.items():
                entry[role][number] = paths[0]  # type: ignore[index]
    return out
