"""Writing output files atomically, and never inside the input run folder."""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from predaudit.errors import OptionError, PredauditError


def run_folder(run_path: Path) -> Path:
    """The folder of the run, symlinks resolved (a single-file run: the file's folder)."""
    run_abs = run_path.resolve()
    return run_abs if run_abs.is_dir() else run_abs.parent


def leads_into(path: Path, run_path: Path) -> bool:
    """Whether ``path``, with every symlink on the way resolved, is the run folder or inside it."""
    target = path.resolve()
    run_dir = run_folder(run_path)
    return target == run_dir or run_dir in target.parents


def _split_names(run_path: Path) -> list[str]:
    from predaudit.io.discover import discover

    try:
        return list(discover(run_path).splits)
    except (PredauditError, OSError):  # reading the run reports it, with its exit code
        return []


def check_out_dir(
    out: Path, run_path: Path, splits: Iterable[str] | None = None, *, param: str = "out"
) -> Path:
    """Refuse an output folder inside (or equal to) the input run folder, before anything is
    written: ``out`` itself and each split's sub-folder ``out/SPLIT`` (``splits``, by default
    the run's), with symlinks resolved, so an existing link in ``out`` (or a split folder
    that is a link) cannot lead the outputs into the data."""
    if leads_into(out, run_path):
        what = "is inside" if not out.is_symlink() else "is a link into"
        raise OptionError(
            f"{what} the input run folder {run_path}; "
            "predaudit never writes there: choose another folder",
            param=param,
            value=str(out),
            joiner=" ",
        )
    names = _split_names(run_path) if splits is None else list(splits)
    for name in names if len(names) > 1 else []:  # one split writes into out itself
        folder = out / name
        if leads_into(folder, run_path):
            raise OptionError(
                f"{folder} (the folder of split '{name}') leads into the input run folder "
                f"{run_path}; predaudit never writes there: choose another folder",
                param=param,
                value=str(out),
                joiner=": ",
            )
    return out


def write_atomic(
    path: Path, data: str | bytes | Callable[[BinaryIO], None], *, fsync: bool = True
) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename: a
    crash leaves either no file or a complete one, never part of one.

    ``data`` is the text (UTF-8), the bytes, or a function that writes them to the open
    binary file it is given (e.g. an ``.npz`` written member by member). The temporary
    file is ``.{name}.XXXXXXXX.tmp``: hidden, so run discovery never reads it. With
    ``fsync`` (the default) it is also flushed to the disk before the rename, so the file
    survives a power cut too; the recorder makes that opt-in (a few milliseconds a file).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with _moved_into_place(tmp, path):
        # mkstemp creates the file 0600; give it the mode a plain open() would (0666 & ~umask).
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as fh:
            if callable(data):
                data(fh)
            else:  # lone surrogates (from ids) as \udcxx, never a crash
                fh.write(
                    data.encode("utf-8", "backslashreplace") if isinstance(data, str) else data
                )
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())


@contextmanager
def _moved_into_place(tmp: str, path: Path) -> Iterator[None]:
    """Rename the temporary file ``tmp`` to ``path`` after the block; remove it instead
    if the block or the rename fails."""
    try:
        yield
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


_TMP_COUNTER = itertools.count()
_IOV_MAX = 1024  # buffers per writev call (Linux's IOV_MAX)


def write_atomic_parts(
    path: Path, parts: Sequence[bytes | memoryview], *, fsync: bool = False
) -> None:
    """:func:`write_atomic` for data given as byte strings and views (e.g. of arrays,
    which are not copied): written with ``os.writev`` in a few system calls, to a hidden
    temporary file ``.{name}.{pid}-{n}.tmp`` in the same folder (made ``0666 & ~umask``
    by the kernel, like ``open()``), then renamed into place. A crash leaves either no
    file or a complete one. This is the recorder's path, where each epoch's file is
    small and the fixed cost of :func:`write_atomic` (a random name, a Python file
    object, three more system calls) was most of the time.
    """
    folder, name = os.path.split(os.fspath(path))
    tmp = os.path.join(folder, f".{name}.{os.getpid()}-{next(_TMP_COUNTER)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(tmp, flags, 0o666)
    except FileNotFoundError:  # the folder is gone: make it again, like write_atomic
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, flags, 0o666)
    except FileExistsError:  # a name left by a crashed process with our pid: the slow path

        def write(fh: BinaryIO) -> None:
            for part in parts:
                fh.write(part)

        write_atomic(path, write, fsync=fsync)
        return
    try:
        _write_all(fd, parts)
        if fsync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        _remove(tmp)
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def _remove(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass


def _write_all(fd: int, parts: Sequence[bytes | memoryview]) -> None:
    """Write every part to ``fd`` in order, however many bytes each ``writev`` takes."""
    views = [p if type(p) is bytes else memoryview(p).cast("B") for p in parts]
    views = [v for v in views if len(v)]
    i = 0
    while i < len(views):
        done = os.writev(fd, views[i : i + _IOV_MAX])  # usually all of them, at once
        while done and i < len(views):
            size = len(views[i])
            if done >= size:
                done -= size
                i += 1
            else:  # a partial write: the rest of this part next time
                views[i] = memoryview(views[i])[done:]
                done = 0
