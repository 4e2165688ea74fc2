"""Refusing special files by their type, before anything opens them."""

from __future__ import annotations

import os
import stat

from predaudit.errors import InputError


def check_regular(path: str | os.PathLike[str]) -> os.stat_result:
    """``os.stat`` of ``path`` (symlinks followed); an :class:`InputError` unless it is a
    regular file: a FIFO, a device (a link to ``/dev/zero``) or a socket is refused by its type,
    before anything opens it."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise InputError(path, f"is not a regular file ({_file_type(st.st_mode)}); refused")
    return st


def _file_type(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "a special file")
