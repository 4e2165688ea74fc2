"""Dataset Cartography's ``dynamics_epoch_N.jsonl`` files."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from predaudit import safejson
from predaudit.errors import InputError
from predaudit.io.container import Container, _short, check_budget, check_regular

_EPOCH_FIELD = re.compile(r"^logits_epoch_(\d+)$")


class JsonlContainer(Container):
    """Dataset Cartography's ``dynamics_epoch_N.jsonl``.

    One JSON object a line with the fields ``guid``, ``logits_epoch_N`` and ``gold``.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        guids: list[Any] = []
        logits: list[list[float]] = []
        gold: list[int] = []
        check_budget(path, "", check_regular(path).st_size)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(path, f"cannot be read ({_short(exc)})") from exc
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line, parse_int=safejson.parse_int)
            except json.JSONDecodeError as exc:
                raise InputError(
                    path,
                    f"line {lineno} is not valid JSON "
                    f"({exc.msg.removesuffix(' at')} at column {exc.colno})",
                ) from exc
            except safejson.JsonProblem as exc:  # an integer of too many digits
                raise InputError(path, f"line {lineno} is not valid JSON ({exc})") from None
            except RecursionError:
                raise InputError(
                    path, f"line {lineno} is not valid JSON (nested too deeply)"
                ) from None
            if not isinstance(rec, dict):
                raise InputError(path, f"line {lineno} is not a JSON object")
            field = next((k for k in rec if _EPOCH_FIELD.match(k)), None)
            if field is None or "gold" not in rec or "guid" not in rec:
                raise InputError(
                    path, f"line {lineno} lacks one of the fields guid, logits_epoch_N, gold"
                )
            guids.append(rec["guid"])
            logits.append(rec[field])
            gold.append(rec["gold"])
        if not logits:
            raise InputError(path, "holds no records")
        lengths = [len(row) if isinstance(row, list) else -1 for row in logits]
        if len(set(lengths)) > 1:
            first = next(i for i, n in enumerate(lengths) if n != lengths[0])
            raise InputError(
                path,
                f"record {first + 1} has {max(lengths[first], 0)} logits but record 1 has "
                f"{max(lengths[0], 0)}; every record needs one logit per class",
            )
        try:
            self._scores = np.asarray(logits, dtype=np.float64)
            self._labels = np.asarray(gold, dtype=np.float64)
        except (ValueError, TypeError, OverflowError) as exc:
            raise InputError(path, f"logits or gold are not all numbers ({_short(exc)})") from exc
        if all(isinstance(g, int) for g in guids):
            big = next((i for i, g in enumerate(guids) if not -(2**63) <= g < 2**63), None)
            if big is not None:
                raise InputError(
                    path, f"record {big + 1} has a guid outside the 64-bit integer range"
                )
            self._ids = np.asarray(guids, dtype=np.int64)
        else:
            self._ids = np.asarray([str(g) for g in guids], dtype=str)

    def keys(self) -> list[str]:
        return ["logits", "labels", "ids"]

    def _get(self, key: str) -> np.ndarray:
        return {"logits": self._scores, "labels": self._labels, "ids": self._ids}[key]

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(self._get(key).shape)

    def dtype_name(self, key: str) -> str:
        return str(self._get(key).dtype)

    def read(self, key: str) -> np.ndarray:
        return self._get(key)


def open_jsonl(path: Path) -> JsonlContainer:
    return JsonlContainer(path)
