"""Find the splits and epochs of a run folder (the layouts of docs/design.md).

Discovery only looks at file names (and, for stacked arrays, at nothing else
yet); reading and validation happen in :mod:`predaudit.io.load`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from predaudit.errors import InputError
from predaudit.io.container import Container, check_regular
from predaudit.io.evaluations import evaluation_layouts, evaluation_number
from predaudit.io.naming import (
    CONTAINERS,
    ID_KEYS,
    LABEL_KEYS,
    SCORE_KEYS,
    SUFFIXES,
    key_from_stem,
    number_in_name,
    split_rank,
)
from predaudit.io.pending import settle
from predaudit.io.shards import group_shards
from predaudit.report.vocab import EpochUnit, Layout


@dataclass(frozen=True)
class NamedFile:
    """A file whose name was understood: ``test_logits_epoch_3.npy`` -> prefix, key, epoch."""

    path: Path
    prefix: str | None
    key: str | None
    epoch: int | None
    rank: int | None = None
    """The process of a shard (``epoch_0003.rank1.npz``), see :mod:`predaudit.io.shards`."""
    unit: EpochUnit = "epoch"
    """What ``epoch`` counts: ``step_500.pt`` and ``checkpoint_500.npz`` carry a step."""


@dataclass(frozen=True)
class SplitLayout:
    """Where one split's predictions live.

    Either ``stacked`` (one file holds every epoch: ``scores_file`` with an
    ``[E, N, C]`` or ``[E, N]`` array, or a single epoch ``[N, C]``) or
    ``epoch_files`` (epoch label -> file, ordered by that number).
    ``labels_file``/``ids_file`` are split-level files; ``epoch_labels`` and
    ``epoch_ids`` per-epoch ``.npy`` files (``labels_epoch_3.npy``).
    """

    name: str
    stacked: Path | None = None
    epoch_files: tuple[tuple[int, Path], ...] = ()
    labels_file: Path | None = None
    ids_file: Path | None = None
    epoch_labels: dict[int, Path] = field(default_factory=dict)
    epoch_ids: dict[int, Path] = field(default_factory=dict)
    epoch_shards: dict[int, tuple[Path, ...]] = field(default_factory=dict)
    """Sharded epochs: every shard file (the first one also stands in ``epoch_files``)."""
    containers: Mapping[Path, Container] = field(default_factory=dict, compare=False, repr=False)
    """In-memory arrays (``from_arrays``) standing in for the files of those paths."""
    epoch_unit: EpochUnit = "epoch"
    """What the epoch labels count: ``step`` for ``checkpoint-500/`` or ``step_500.pt``."""
    layout: Layout | None = None
    """How a rank-3 score array reads (``--layout``); None: from the shapes, or an error."""

    @property
    def files(self) -> list[Path]:
        out: list[Path] = []
        if self.stacked is not None:
            out.append(self.stacked)
        out.extend(p for _, p in self.epoch_files)
        for extra in (self.labels_file, self.ids_file):
            if extra is not None and extra not in out:
                out.append(extra)
        out.extend(self.epoch_labels[e] for e in sorted(self.epoch_labels))
        out.extend(self.epoch_ids[e] for e in sorted(self.epoch_ids))
        out.extend(p for e in sorted(self.epoch_shards) for p in self.epoch_shards[e][1:])
        return out

    @property
    def pattern(self) -> str:
        """A short description of the files, e.g. ``test/epoch_{001..030}.npz (30 files)``."""
        if self.stacked is not None:
            names = [p.name for p in self.files]
            return ", ".join(names)
        paths = [p for _, p in self.epoch_files]
        if len(paths) == 1:
            return paths[0].name
        first, last = paths[0].name, paths[-1].name
        if first == last:  # one folder per evaluation: checkpoint-100/predictions.npy …
            first, last = (f"{p.parent.name}/{p.name}" for p in (paths[0], paths[-1]))
        listed = set(paths)
        rest = [p.name for p in self.files if p not in listed]
        counts: dict[str, int] = {}
        for n in rest:
            counts[n] = counts.get(n, 0) + 1
        text = f"{first} … {last} ({len(paths)} files)"
        return ", ".join([text, *(n if k == 1 else f"{n} ({k} files)" for n, k in counts.items())])


@dataclass(frozen=True)
class RunLayout:
    """A run: its path and its splits by name (``default`` when there are none)."""

    path: Path
    splits: dict[str, SplitLayout]


def parse_name(path: Path) -> NamedFile:
    """Understand a file name: split prefix, array key and epoch number.

    >>> n = parse_name(Path("test_logits_epoch_12.npy"))
    >>> (n.prefix, n.key, n.epoch)
    ('test', 'logits', 12)
    >>> n = parse_name(Path("val_epoch_3.npz"))
    >>> (n.prefix, n.key, n.epoch)
    ('val', None, 3)
    """
    stem, rank = split_rank(path.stem)
    epoch = None
    unit: EpochUnit = "epoch"
    found = number_in_name(stem)
    if found is not None:
        epoch, unit, stem = found
    key = key_from_stem(stem) if stem else None
    prefix: str | None
    if key is not None:
        prefix = stem[: len(stem) - len(key)].rstrip("_-") or None
    else:
        prefix = stem or None
    if path.suffix.lower() == ".jsonl" and prefix is not None and prefix.lower() == "dynamics":
        prefix = None
    return NamedFile(path=path, prefix=prefix, key=key, epoch=epoch, rank=rank, unit=unit)


def _visible(p: Path) -> bool:
    return not p.name.startswith((".", "_"))


def _is_store(p: Path) -> bool:
    """A ``.zarr`` store: a folder read as one file (:mod:`predaudit.io.zarr_store`)."""
    return p.suffix.lower() == ".zarr" and p.is_dir()


def _prediction_files(folder: Path) -> list[NamedFile]:
    out = []
    for p in sorted(folder.iterdir()):
        # not is_file(): a FIFO or a link to /dev/zero is refused by its reader, not skipped
        if (not p.is_dir() or _is_store(p)) and _visible(p) and p.suffix.lower() in SUFFIXES:
            named = parse_name(p)
            if named.epoch is None and named.key is None and p.suffix.lower() not in CONTAINERS:
                continue  # foo.npy: not a prediction file we understand
            out.append(named)
    return out


def _build_split(name: str, files: list[NamedFile]) -> SplitLayout | None:
    stacked: list[Path] = []
    epochs: dict[int, Path] = {}
    epoch_labels: dict[int, Path] = {}
    epoch_ids: dict[int, Path] = {}
    shards: dict[int, list[tuple[int, Path]]] = {}
    labels: list[Path] = []
    ids: list[Path] = []
    for f in files:
        is_container = f.path.suffix.lower() in CONTAINERS + (".jsonl",)
        if f.epoch is not None:
            if f.key in LABEL_KEYS and not is_container:
                target = epoch_labels
            elif f.key in ID_KEYS and not is_container:
                target = epoch_ids
            else:
                target = epochs
            if f.rank is not None and target is epochs:
                shards.setdefault(f.epoch, []).append((f.rank, f.path))
                continue
            if f.epoch in target:
                raise InputError(
                    f"{target[f.epoch]}, {f.path}", f"both files claim epoch {f.epoch}"
                )
            target[f.epoch] = f.path
        elif f.key in LABEL_KEYS:
            labels.append(f.path)
        elif f.key in ID_KEYS:
            ids.append(f.path)
        elif f.key in SCORE_KEYS or is_container:
            stacked.append(f.path)
    containers = group_shards(name, shards, epochs)
    if not stacked and not epochs:
        return None
    for what, found in (("scores", stacked), ("labels", labels), ("sample ids", ids)):
        if len(found) > 1:
            raise InputError(
                ", ".join(str(p) for p in found),
                f"several files hold {what} for split '{name}'; keep one",
            )
    units = {f.unit for f in files if f.epoch is not None}
    if len(units) > 1:
        raise InputError(
            ", ".join(str(f.path) for f in files if f.epoch is not None),
            f"split '{name}' mixes epoch and step numbers in its file names; keep one kind",
        )
    if stacked and epochs:
        first_epoch = epochs[min(epochs)]
        raise InputError(
            f"{stacked[0]}, {first_epoch}",
            f"split '{name}' has both stacked scores and per-epoch files; keep one layout",
        )
    return SplitLayout(
        name=name,
        stacked=stacked[0] if stacked else None,
        epoch_files=tuple(sorted(epochs.items())),
        labels_file=labels[0] if labels else None,
        ids_file=ids[0] if ids else None,
        epoch_labels=epoch_labels,
        epoch_ids=epoch_ids,
        epoch_shards={e: tuple(p for _, p in sorted(m)) for e, m in shards.items()},
        containers=containers,
        epoch_unit=units.pop() if units else "epoch",
    )


def _group(files: list[NamedFile]) -> dict[str | None, list[NamedFile]]:
    groups: dict[str | None, list[NamedFile]] = {}
    for f in files:
        prefix = f.prefix
        # A container like run.npz names no split: its stem is not a prefix.
        if f.key is None and f.epoch is None:
            prefix = (
                None
                if len([g for g in files if g.key is None and g.epoch is None]) == 1
                else prefix
            )
        groups.setdefault(prefix, []).append(f)
    # Split-level labels/ids without a prefix serve every prefixed split that lacks its own.
    shared = groups.get(None, [])
    if shared and not any(
        f.key in SCORE_KEYS or f.key is None or f.epoch is not None for f in shared
    ):
        del groups[None]
        for members in groups.values():
            have = {f.key for f in members if f.epoch is None}
            for f in shared:
                if f.key not in have:
                    members.append(f)
    return groups


def _evaluation_split(
    name: str, found: Mapping[str, object], splits: Mapping[str, SplitLayout]
) -> SplitLayout:
    """The split of evaluation folders (:mod:`predaudit.io.evaluations`), one epoch a folder."""
    scores: dict[int, Path] = found["scores"]  # type: ignore[assignment]
    if name in splits:
        first = scores[min(scores)]
        raise InputError(f"{splits[name].files[0]}, {first}", f"split '{name}' is found twice")
    return SplitLayout(
        name=name,
        epoch_files=tuple(sorted(scores.items())),
        epoch_labels=dict(found["labels"]),  # type: ignore[call-overload]
        epoch_ids=dict(found["ids"]),  # type: ignore[call-overload]
        epoch_unit=found["unit"],  # type: ignore[arg-type]
    )


def discover(path: str | Path) -> RunLayout:
    """Find the splits and epoch sources of the run at ``path`` (folder or single file)."""
    root = Path(path)
    settle(root)  # a background Recorder's epochs ended so far, in this process
    if not root.exists():
        raise InputError(root, "does not exist")
    if not root.is_dir() or _is_store(root):  # a file; a FIFO or device is refused by type
        if not _is_store(root):
            check_regular(root)
        if root.suffix.lower() not in SUFFIXES:
            raise InputError(root, f"is not a prediction file (expected {', '.join(SUFFIXES)})")
        named = parse_name(root)
        if root.suffix.lower() == ".npy" and named.key not in SCORE_KEYS and named.epoch is None:
            raise InputError(root, "is not a scores file (name it logits.npy, probs.npy, …)")
        if root.suffix.lower() == ".npy" or (_is_store(root) and named.key in SCORE_KEYS):
            # A lone .npy (or logits.zarr) is read with the labels/ids files beside it.
            siblings = [
                f
                for f in _prediction_files(root.parent)
                if f.prefix == named.prefix and (f.path == root or f.key in LABEL_KEYS + ID_KEYS)
            ]
            split = _build_split("default", siblings)
        else:
            split = _build_split("default", [NamedFile(root, None, named.key, named.epoch)])
        assert split is not None
        return RunLayout(path=root, splits={"default": split})

    splits: dict[str, SplitLayout] = {}
    for prefix, members in _group(_prediction_files(root)).items():
        split = _build_split(prefix or "default", members)
        if split is not None:
            splits[split.name] = split
    subs = sorted(p for p in root.iterdir() if p.is_dir() and _visible(p) and not _is_store(p))
    evaluations = [p for p in subs if evaluation_number(p) is not None]
    for name, found in evaluation_layouts(evaluations).items() if evaluations else ():
        splits[name] = _evaluation_split(name, found, splits)
    runs_below: list[Path] = []  # sub-folders holding no files but splits of their own
    for sub in (p for p in subs if p not in evaluations):
        has_splits = False
        for prefix, members in _group(_prediction_files(sub)).items():
            name = sub.name if prefix is None else f"{sub.name}/{prefix}"
            split = _build_split(name, members)
            if split is not None:
                has_splits = True
                if name in splits:
                    raise InputError(sub, f"split '{name}' is found twice; rename one")
                splits[name] = split
        if not has_splits and _holds_splits(sub):
            runs_below.append(sub)
    if runs_below:
        _several_runs(root, splits, runs_below)
    if not splits:
        raise InputError(
            root,
            "holds no recognisable prediction files (expected e.g. logits.npy + labels.npy, "
            "epoch_001.npz, test/epoch_1.pt or dynamics_epoch_1.jsonl)",
        )
    return RunLayout(path=root, splits=splits)


def _holds_splits(folder: Path) -> bool:
    """Whether a sub-folder of ``folder`` holds prediction files (a run one level down)."""
    try:
        subs = [p for p in folder.iterdir() if p.is_dir() and _visible(p) and not _is_store(p)]
    except OSError:
        return False
    return any(_prediction_files(p) for p in subs)


def _several_runs(root: Path, splits: dict[str, SplitLayout], below: list[Path]) -> None:
    """A folder whose sub-folders are separate runs is not one run: say which they are.

    Reading only the shallow ones would silently leave the others out.
    """
    runs = sorted({name.split("/")[0] for name in splits if "/" in name} | {p.name for p in below})
    if any("/" not in name for name in splits):  # prediction files at the top too
        runs.insert(0, ".")
    shown = ", ".join(f"{r}/" if r != "." else "(its own files)" for r in runs)
    first = root / below[0].name
    raise InputError(
        root,
        f"holds {len(runs)} separate runs: {shown}; point at one of them, e.g. {first}",
    )
