"""Independent pieces of long work run side by side, one forked process per core.

Only work that takes seconds goes here (drawing a report's figures, resampled backtests of several families): each
piece computes exactly what it would alone, so results are the same bit for bit, in the same order. Workers are
forked so that they share the inputs without copying them; where a process cannot fork, or there is one core or
one piece, the pieces run one after the other.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable, Sequence
from typing import Any

_PIECES: list[Callable[[], Any]] = []


def _run(index: int) -> Any:
    return _PIECES[index]()


def _ignore_interrupts() -> None:
    """Workers leave Ctrl-C to the parent, which ends them: no worker prints its own traceback. A worker starts with
    Ctrl-C blocked (see `fork_map`) and unblocks it only once it ignores it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def fork_map(pieces: Sequence[Callable[[], Any]], done: Callable[[int], None] | None = None) -> list[Any]:
    """The result of calling each of `pieces`, in order; `done(i)` hears when piece i has finished (in order)."""
    workers = min(len(pieces), os.cpu_count() or 1)
    tell = done or (lambda index: None)
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods() or _PIECES:
        results = []
        for index, piece in enumerate(pieces):
            results.append(piece())
            tell(index)
        return results
    _PIECES[:] = pieces
    try:
        # Ctrl-C held back while the workers fork: one landing in a fork handler (logging's lock release) was
        # printed as 'Exception ignored' by the parent or a child; held, it reaches the parent once forking is done
        held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            pool = multiprocessing.get_context("fork").Pool(workers, initializer=_ignore_interrupts)
        except BaseException:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
            raise
        with pool:  # a Ctrl-C held back lands here, and leaving the pool ends its workers
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
            results = []
            for index, result in enumerate(pool.imap(_run, range(len(pieces)))):
                results.append(result)
                tell(index)
    finally:
        _PIECES.clear()
    return results
