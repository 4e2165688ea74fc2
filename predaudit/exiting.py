"""Leaving the ``predaudit`` program without the interpreter's teardown.

Once a command has written everything, what is left of the process is Python freeing
each of its objects and modules one by one: with numpy, Rich and matplotlib loaded,
about 0.1-0.2 s of an ``analyze --out`` that takes 1-2 s, for memory the operating
system takes back at once anyway. :func:`leave` exits without it, doing first what
the interpreter's exit would do that anyone can see: the exit handlers
(:mod:`atexit`, which include the Recorder's report of failed writes and
``weakref.finalize`` callbacks), then flushing stdout and stderr. It is called by
the CLI's entry point only (never by the library, nor under Click's test runner),
and it leaves the usual way instead whenever that could differ:

* the exit status is not an integer (``sys.exit("message")`` prints it);
* a thread other than the reduction pool's idle ones is alive (a normal exit waits
  for threads, and a thread may hold buffered output);
* flushing a stream fails (the interpreter reports that itself, with its own status).
"""

from __future__ import annotations

import atexit
import os
import sys
import threading

_IDLE_THREADS = ("predaudit-reduce",)
"""Name prefixes of threads a normal exit would only stop (the reduction pool, idle
between commands: the interpreter's exit tells it to stop and joins it)."""


def _only_idle_threads() -> bool:
    main = threading.main_thread()
    return threading.current_thread() is main and all(
        t is main or t.name.startswith(_IDLE_THREADS) for t in threading.enumerate()
    )


def leave(code: object) -> None:
    """Exit the process now with status ``code`` (``None`` is 0), after the exit handlers
    and with stdout and stderr flushed; return instead (the caller then exits as usual)
    when that could change what the process does (see the module)."""
    if code is None:
        code = 0
    if not isinstance(code, int) or isinstance(code, bool) or not _only_idle_threads():
        return
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    if run_exit_handlers is None:
        return
    run_exit_handlers()  # each runs once: the interpreter's exit would find none left
    streams = (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
    for stream in dict.fromkeys(s for s in streams if s is not None):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed pipe: the interpreter's exit says so
            return
    os._exit(code & 0xFF)  # the status the C library's exit() would give
