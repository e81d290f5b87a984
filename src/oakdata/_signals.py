"""Flushing on termination signals, then handing the signal on as if we were not there."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterable
from types import FrameType

Shutdown = Callable[[float], bool]


def install_flush_on_signals(
    shutdown: Shutdown, signals: Iterable[int] | None, timeout: float
) -> None:
    """Chain a handler for each signal: shutdown(timeout), then the previous disposition.

    The handler runs on the main thread, possibly while that thread is inside capture();
    the worker's and the counters' locks are re-entrant for that reason.
    """
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout < 0:
        raise ValueError(f"timeout must be zero or more seconds, got {timeout!r}.")
    chosen = (signal.SIGTERM,) if signals is None else tuple(signals)
    for signum in chosen:
        previous = signal.getsignal(signum)
        # signal.signal raises ValueError off the main thread: a clear enough answer.
        signal.signal(signum, _chained(shutdown, float(timeout), previous))


def _chained(
    shutdown: Shutdown,
    timeout: float,
    previous: Callable[[int, FrameType | None], object] | int | None,
) -> Callable[[int, FrameType | None], None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        shutdown(timeout)
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_IGN:
            return
        else:
            # SIG_DFL (or a handler set outside Python): restore it and re-raise the
            # signal, so the process ends exactly as it would have without us.
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    return handler
