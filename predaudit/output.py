"""Writing output files atomically, and never inside the input run folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from predaudit.errors import OptionError


def check_out_dir(out: Path, run_path: Path) -> Path:
    """Refuse an output folder inside (or equal to) the input run folder."""
    out_abs = out.resolve()
    run_abs = run_path.resolve()
    run_dir = run_abs if run_abs.is_dir() else run_abs.parent
    if out_abs == run_dir or run_dir in out_abs.parents:
        raise OptionError(
            f"is inside the input run folder {run_path}; "
            "predaudit never writes there: choose another folder",
            param="out",
            value=str(out),
            joiner=" ",
        )
    return out


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates the file 0600; give it the mode a plain open() would (0666 & ~umask).
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
