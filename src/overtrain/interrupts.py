"""A Ctrl-C is never lost: once heard it is raised again at the next checkpoint, even if a library swallowed it.

Python 3.11 turns a KeyboardInterrupt that lands while a module creates a class into a RuntimeError, and a library
that imports under a broad `except Exception` then drops it: the command ran on to the end (1 run in about 140 at
random moments of `reproduce --all`). The command line listens from its first line; progress steps and the commit of
every output file are checkpoints.
"""

from __future__ import annotations

import signal
from types import FrameType

_HEARD: list[int] = []


def _on_interrupt(signum: int, frame: FrameType | None) -> None:
    _HEARD.append(signum)
    raise KeyboardInterrupt


def listen() -> None:
    """Record every Ctrl-C from now on, raising KeyboardInterrupt as Python's own handler does (left alone where
    Ctrl-C is ignored, as in worker processes)."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_interrupt)


def checkpoint() -> None:
    """Raise KeyboardInterrupt if a Ctrl-C was heard, whatever became of the first one."""
    if _HEARD:
        raise KeyboardInterrupt


def interrupted(error: BaseException | None) -> bool:
    """Whether `error` is a Ctrl-C in disguise: Python 3.11 wraps one that lands while a class is being created (a
    module importing) in a RuntimeError, and a library's C code may put an error of its own in its place (numpy
    once reported 'cannot compare structured arrays' for one). Once a Ctrl-C was heard, any error that follows is
    its consequence."""
    if _HEARD:
        return True
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False
