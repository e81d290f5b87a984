"""on_error: the app's callback, told of every drop, from a thread of ours.

Drops happen on the app's thread (invalid input, a full queue) and on the sender's (a 401,
retries exhausted). The callback runs on neither: a slow or failing callback must not slow
capture() or hold a batch back. Reports wait in a short queue, and a flood of one kind
(a million invalid captures) becomes one report of a million, not a million calls.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable

from . import _log

# Reports waiting for the callback, after merging repeats; beyond it a report joins one of
# its kind already waiting, so memory stays bounded whatever the callback does.
MAX_PENDING_REPORTS = 256


class DropReport:
    """What on_error receives: events that will never be delivered, and why.

    reason is one of oakdata.DROP_REASONS (the names stats() counts under); count is how
    many events; status is the HTTP status that caused it, or None; message is one short
    line, the same as the warning's (never the key, never a property value).
    """

    __slots__ = ("count", "message", "reason", "status")

    def __init__(self, reason: str, count: int, status: int | None, message: str) -> None:
        self.reason = reason
        self.count = count
        self.status = status
        self.message = message

    def __repr__(self) -> str:
        status = "" if self.status is None else f", status={self.status}"
        return f"DropReport(reason={self.reason!r}, count={self.count}{status}, {self.message!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DropReport):
            return NotImplemented
        return (self.reason, self.count, self.status, self.message) == (
            other.reason,
            other.count,
            other.status,
            other.message,
        )

    __hash__ = None  # type: ignore[assignment]


OnError = Callable[[DropReport], object]


class Notifier:
    def __init__(self, callback: OnError) -> None:
        self._callback = callback
        self._failed_once = False
        self._reset()

    def _reset(self) -> None:
        # Fresh in a forked child: the parent's thread does not exist there, and the lock
        # may have been held at the fork.
        self._pid = os.getpid()
        self._cond = threading.Condition(threading.Lock())
        self._pending: deque[DropReport] = deque()
        self._calling = False
        self._thread: threading.Thread | None = None

    def reset_after_fork(self) -> None:
        self._reset()

    def notify(self, report: DropReport) -> None:
        """Queue a report for the callback; never blocks on it, never raises."""
        if self._pid != os.getpid():
            self._reset()
        key = (report.reason, report.status)
        with self._cond:
            pending = self._pending
            if pending and (pending[-1].reason, pending[-1].status) == key:
                pending[-1].count += report.count
            elif len(pending) < MAX_PENDING_REPORTS:
                pending.append(report)
            else:
                # Full: add it to a waiting report of its kind. With more kinds than that
                # waiting (a callback stuck for long), it is left out; the warning says it.
                for waiting in pending:
                    if (waiting.reason, waiting.status) == key:
                        waiting.count += report.count
                        break
            if self._thread is None:
                self._start_locked()
            self._cond.notify_all()  # the thread, and any drain() waiting

    def drain(self, timeout: float) -> bool:
        """Wait until every queued report has been handed to the callback; True if so."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._calling, timeout)

    def _start_locked(self) -> None:
        thread = threading.Thread(target=self._run, name="oakdata-on-error", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # interpreter shutdown: the warnings still say it
            return
        self._thread = thread

    def _run(self) -> None:
        cond = self._cond
        while True:
            with cond:
                cond.wait_for(lambda: bool(self._pending))
                report = self._pending.popleft()
                self._calling = True
            try:
                self._callback(report)
            except Exception as exc:
                self._report_failure(exc)
            finally:
                with cond:
                    self._calling = False
                    cond.notify_all()

    def _report_failure(self, exc: Exception) -> None:
        if self._failed_once:
            return
        self._failed_once = True
        # The type only: the exception's text may quote what the callback was given.
        _log.error(
            "oakdata on_error callback raised %s; later failures are not logged",
            type(exc).__name__,
        )
