"""How each SDK is built and called, configured as alike as their options allow.

Common settings: the host is the sink, a batch is sent once BATCH_SIZE events wait
(oakdata ``flush_at``, posthog ``flush_at``, segment ``upload_size``), gzip on, 3 retries,
a 10 s request timeout, and a queue bound given by the scenario (raised so that a burst is
queued, not dropped). Everything else is each SDK's default. Each SDK is imported only in
its own subprocess.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .event import EVENT_NAME

BATCH_SIZE = 100
MAX_RETRIES = 3
REQUEST_TIMEOUT = 10.0
SDKS = ("posthog", "segment", "oakdata")
IMPORT_NAMES = {"oakdata": "oakdata", "posthog": "posthog", "segment": "segment.analytics"}


@dataclass
class Client:
    """capture(distinct_id, properties) in the SDK's own calling style, flush and shutdown."""

    capture: Callable[..., Any]
    keyword_style: bool  # posthog: capture(event, distinct_id=..., properties=...)
    flush: Callable[[float], Any]
    shutdown: Callable[[], Any]
    version: str


def build(sdk: str, host: str, *, queue_size: int, serverless: bool = False) -> Client:
    if sdk == "oakdata":
        return _oakdata(host, queue_size, serverless)
    if sdk == "posthog":
        return _posthog(host, queue_size, serverless)
    if sdk == "segment":
        return _segment(host, queue_size, serverless)
    raise ValueError(f"unknown SDK {sdk!r}")


def _oakdata(host: str, queue_size: int, serverless: bool) -> Client:
    import oakdata

    client = oakdata.OakClient(
        "oak_sec_bench",
        host=host,
        flush_at=1 if serverless else BATCH_SIZE,
        max_retries=MAX_RETRIES,
        request_timeout=REQUEST_TIMEOUT,
        max_queue_size=queue_size,
        gzip=True,
    )
    return Client(
        capture=client.capture,
        keyword_style=False,
        flush=client.flush,
        shutdown=lambda: client.shutdown(5.0),
        version=oakdata.__version__,
    )


def _posthog(host: str, queue_size: int, serverless: bool) -> Client:
    import posthog

    client = posthog.Posthog(
        "phc_bench",
        host=host,
        flush_at=BATCH_SIZE,
        gzip=True,
        max_retries=MAX_RETRIES,
        timeout=REQUEST_TIMEOUT,
        max_queue_size=queue_size,
        sync_mode=serverless,
    )
    return Client(
        capture=client.capture,
        keyword_style=True,
        flush=lambda timeout: client.flush(timeout_seconds=timeout),
        shutdown=client.shutdown,
        version=posthog.__version__,
    )


def _segment(host: str, queue_size: int, serverless: bool) -> Client:
    from segment import analytics

    client = analytics.Client(
        "segment_bench_write_key",
        host=host,
        upload_size=BATCH_SIZE,
        gzip=True,
        max_retries=MAX_RETRIES,
        timeout=REQUEST_TIMEOUT,
        max_queue_size=queue_size,
        sync_mode=serverless,
    )
    return Client(
        capture=client.track,
        keyword_style=False,
        flush=lambda _timeout: client.flush(),  # segment's flush takes no timeout
        shutdown=client.shutdown,
        version=analytics.__version__,
    )


def capture_one(client: Client, distinct_id: str, props: dict[str, Any]) -> Any:
    if client.keyword_style:
        return client.capture(EVENT_NAME, distinct_id=distinct_id, properties=props)
    return client.capture(distinct_id, EVENT_NAME, props)
