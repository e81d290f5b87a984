"""Delivering one batch: what to send, what an answer means, and what to do next.

No I/O happens here. ``deliver`` is a generator that yields the actions it needs, a Send or
a Wait, and is told how they went; the threaded and the asyncio clients each drive it with
their own way of waiting, so the retry, split and drop rules exist once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Sequence

from . import _log, _stats
from ._batching import build_body
from ._compression import MIN_GZIP_BYTES, gzip_compress
from ._config import Config
from ._ids import rfc3339
from ._retry import backoff_delay, retry_after_delay
from ._stats import Counters
from ._version import __version__
from ._wire import NetworkError, Request, Response

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Cause strings from a server are shown in logs; keep them to one short line.
MAX_CAUSE_CHARS = 200


# Actions and outcomes are tiny slotted classes, not dataclasses: see _wire.


class Send:
    __slots__ = ("request",)

    def __init__(self, request: Request) -> None:
        self.request = request


class Wait:
    """Pause before a retry. The driver answers True if shutdown cut the wait short."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


Action = Send | Wait
Result = Response | NetworkError | bool | None
# A plan yields actions and finally returns how many of its messages were not delivered.
Plan = Generator[Action, Result, int]


class Delivered:
    __slots__ = ("rejected",)

    def __init__(self, rejected: tuple[tuple[int, str], ...]) -> None:
        self.rejected = rejected


class RetryLater:
    __slots__ = ("after", "cause", "status")

    def __init__(self, after: float | None, cause: str, status: int | None = None) -> None:
        self.after = after
        self.cause = cause
        self.status = status


class SplitBatch:
    __slots__ = ()


class DropBatch:
    __slots__ = ("cause", "status")

    def __init__(self, cause: str, status: int = 0) -> None:
        self.cause = cause
        self.status = status


Outcome = Delivered | RetryLater | SplitBatch | DropBatch


def classify(result: Response | NetworkError, now: float, batch_size: int) -> Outcome:
    """What an answer (or its absence) means for the batch that was sent."""
    if isinstance(result, NetworkError):
        return RetryLater(None, result.reason)
    status = result.status
    if 200 <= status < 300:
        return Delivered(_rejections(result.body, batch_size))
    if status == 413:
        return SplitBatch()
    if status in RETRYABLE_STATUSES or status >= 500:
        after = retry_after_delay(result.headers.get("retry-after"), now)
        return RetryLater(after, f"HTTP {status}", status)
    return DropBatch(_client_error_cause(result), status)


def _rejections(body: bytes, batch_size: int) -> tuple[tuple[int, str], ...]:
    import json  # on the worker, not at import: json brings re along

    try:
        listed = json.loads(body).get("rejected") or []
    except (ValueError, AttributeError, UnicodeDecodeError):
        return ()
    found: dict[int, str] = {}
    for item in listed if isinstance(listed, list) else []:
        index = item.get("index") if isinstance(item, dict) else None
        if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < batch_size:
            found[index] = str(item.get("reason", "no reason given"))[:MAX_CAUSE_CHARS]
    return tuple(sorted(found.items()))


def _client_error_cause(response: Response) -> str:
    import json

    if response.status == 401:
        what = "the server rejected the secret key (revoked, or from another project)"
    elif response.status == 403:
        what = "the secret key is not allowed to send these messages"
    elif response.status == 404:
        what = "nothing answers at the ingest URL (check host and ingest_path)"
    else:
        what = "the server refused the batch"
    try:
        error = json.loads(response.body)["error"]
        detail = f"{error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        detail = ""
    cause = f"HTTP {response.status}: {what}" + (f" ({detail})" if detail else "")
    return cause[:MAX_CAUSE_CHARS]


class Deliverer:
    """Holds what every batch of one client shares: the request template and the counters."""

    def __init__(
        self,
        config: Config,
        counters: Counters,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._counters = counters
        self._clock = clock
        # When a server's Retry-After ends, on clock's scale. Shared by every batch of the
        # client: a server that asked for a pause must not get the other sender's batch
        # a moment later.
        self._resume_at = 0.0
        self._headers = {
            "Authorization": f"Bearer {config.secret_key}",
            "Content-Type": "application/json",
            "User-Agent": f"oakdata-python/{__version__}",
        }
        self._gzip_headers = {**self._headers, "Content-Encoding": "gzip"} if config.gzip else None
        self._url_logged = False

    def __repr__(self) -> str:
        return f"Deliverer(url={self._config.ingest_url!r})"

    def request(self, messages: Sequence[bytes]) -> Request:
        config = self._config
        body = build_body(messages, rfc3339(time.time_ns()))
        if self._gzip_headers is not None and len(body) >= MIN_GZIP_BYTES:
            compressed = gzip_compress(body)
            return Request(
                config.ingest_url, self._gzip_headers, compressed, config.request_timeout
            )
        return Request(config.ingest_url, self._headers, body, config.request_timeout)

    def deliver(self, messages: Sequence[bytes]) -> Plan:
        """Send one batch until it is delivered or dropped; return how many were dropped."""
        if not self._url_logged:
            # Where events go is the first thing to check when none arrive (a forgotten
            # OAK_HOST sends them to the default host): said once, with debug=True.
            self._url_logged = True
            self._debug("sending to %s", self._config.ingest_url)
        retries = 0
        while True:
            pause = self._resume_at - self._clock()
            if pause > 0:
                self._debug("waiting %.2f s, as the server asked", pause)
                if (yield Wait(pause)):
                    return self._interrupted(len(messages))
            result = yield Send(self.request(messages))
            if not isinstance(result, Response | NetworkError):
                raise TypeError("a Send must be answered with a Response or a NetworkError")
            outcome = classify(result, time.time(), len(messages))
            if isinstance(outcome, Delivered):
                return self._delivered(len(messages), outcome.rejected)
            if isinstance(outcome, SplitBatch):
                return (yield from self._split(messages))
            if isinstance(outcome, DropBatch):
                # The drop's own warning is the one line a user sees: it names the host,
                # since a wrong OAK_HOST and a wrong key look alike from the app.
                cause = f"{self._config.host} answered {outcome.cause}"
                return self._drop(_stats.CLIENT_ERROR, len(messages), cause, outcome.status)
            # With a spool, events outlive any outage the spool can hold: retry for as long
            # as it takes, and let shutdown's timeout, not a retry count, end the attempts.
            if self._config.spool_path is None and retries >= self._config.max_retries:
                cause = (
                    f"still failing after {retries} retries ({self._config.host}: {outcome.cause})"
                )
                return self._drop(_stats.RETRIES_EXHAUSTED, len(messages), cause, outcome.status)
            retries += 1
            delay = outcome.after
            if delay is None:
                delay = backoff_delay(retries, self._config.retry_initial_delay)
            else:
                self._resume_at = max(self._resume_at, self._clock() + delay)
            self._debug(
                "retry %d of a batch of %d in %.2f s after %s",
                retries,
                len(messages),
                delay,
                outcome.cause,
            )
            self._counters.retried()
            if (yield Wait(delay)):
                return self._interrupted(len(messages))

    def _interrupted(self, count: int) -> int:
        """Shutdown cut a wait short: the batch is dropped, or left in the spool."""
        return self.give_up(count, "shutdown's timeout ran out while waiting to retry")

    def _split(self, messages: Sequence[bytes]) -> Plan:
        # One oversized message must not take its neighbours down: halve until it is alone.
        if len(messages) == 1:
            cause = "the server answered 413 to a single message"
            return self._drop(_stats.OVERSIZED_FOR_SERVER, 1, cause)
        middle = len(messages) // 2
        self._debug("HTTP 413: splitting a batch of %d", len(messages))
        first = yield from self.deliver(messages[:middle])
        second = yield from self.deliver(messages[middle:])
        return first + second

    def _delivered(self, count: int, rejected: tuple[tuple[int, str], ...]) -> int:
        self._counters.delivered(count - len(rejected))
        if rejected:
            reasons = sorted({reason for _, reason in rejected})
            cause = "the server rejected them: " + "; ".join(reasons)
            self._counters.dropped(_stats.REJECTED_BY_SERVER, len(rejected), cause[:500])
        self._debug("delivered %d, rejected %d", count - len(rejected), len(rejected))
        return len(rejected)

    def give_up(self, count: int, cause: str) -> int:
        """Shutdown's timeout ran out before count messages were delivered: they are dropped
        and counted, or with a spool kept there for the next client. Returns count."""
        if self._config.spool_path is not None:
            return count  # not lost: still in the spool, still "queued"
        return self._drop(_stats.SHUTDOWN_TIMEOUT, count, cause)

    def _drop(self, reason: str, count: int, cause: str, status: int | None = None) -> int:
        self._counters.dropped(reason, count, cause, status)
        return count

    def _debug(self, message: str, *args: object) -> None:
        if self._config.debug:
            _log.debug("oakdata " + message, *args)
