"""oak.js in Chromium against an ingest endpoint that answers 429 or 503 before the real
server does: Retry-After is honoured, 5xx backed off, and retries stop at max_retries.

The endpoint is an HttpBed on 127.0.0.1 in front of the real server: scripted failures first,
then every request forwarded. Its failures carry the CORS headers the real server sends this
origin, without which the browser would hide the status and Retry-After from oak.js.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from httpbed import BedRequest, HttpBed, Reply

from .conftest import Oak, Site

MAX_RETRIES = 6  # oak.js's documented default (docs/browser.md)
# Headers the real server adds to a preflight only; the rest of its CORS headers it also
# adds to every answer to a POST, and the proxy's failures must carry those.
PREFLIGHT_ONLY = {
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-max-age",
}


class FlakyProxy:
    def __init__(self, oak: Oak, origin: str) -> None:
        self.oak = oak
        self.failing: Reply | None = None  # answered to every request while set
        preflight = httpx.options(
            f"{oak.url}/api/oak/ingest",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
            timeout=10.0,
        )
        assert preflight.status_code == 204, preflight.text
        self.cors = {
            name: value
            for name, value in preflight.headers.items()
            if (name.startswith("access-control-") and name not in PREFLIGHT_ONLY) or name == "vary"
        }
        assert "retry-after" in self.cors["access-control-expose-headers"].lower()
        self.bed = HttpBed()
        self.bed.responder = self._respond

    def failure(self, status: int, headers: dict[str, str] | None = None) -> Reply:
        return Reply(status, headers={**self.cors, **(headers or {})})

    def _respond(self, request: BedRequest) -> Reply:
        if self.failing is not None:
            return self.failing
        answer = httpx.post(
            f"{self.oak.url}{request.path}",
            content=request.raw_body,
            headers={
                "Origin": request.header("origin") or "",
                "Content-Type": request.header("content-type") or "text/plain",
            },
            timeout=10.0,
        )
        kept = {
            name: value
            for name, value in answer.headers.items()
            if name.startswith("access-control-") or name in ("vary", "content-type")
        }
        return Reply(answer.status_code, answer.content, kept)

    def requests_carrying(self, uuid: str) -> list[BedRequest]:
        return [r for r in self.bed.requests if uuid in {m.get("uuid") for m in r.messages}]


@pytest.fixture
def proxy(oak: Oak, site: Site) -> Iterator[FlakyProxy]:
    flaky = FlakyProxy(oak, site.url)
    yield flaky
    flaky.bed.close()


def open_site(page: Any, site: Site, proxy: FlakyProxy) -> str:
    """The site with oak.js sending to the proxy, quick back-off; its $pageview's uuid."""
    page.goto(f"{site.url}/?autocapture=0&retry_initial_delay=0.05&host={quote(proxy.bed.url)}")
    [first] = proxy.bed.wait_for_requests(1)
    [pageview] = first.messages
    assert pageview["event"] == "$pageview"
    return str(pageview["uuid"])


def stored_once(oak: Oak, uuid: str) -> None:
    oak.wait_for_events("$pageview", lambda e: e.uuid == uuid)
    assert [e.uuid for e in oak.events("$pageview")].count(uuid) == 1


def test_a_429_is_retried_no_sooner_than_its_retry_after(
    page: Any, oak: Oak, site: Site, proxy: FlakyProxy
) -> None:
    proxy.bed.script(proxy.failure(429, {"Retry-After": "1"}))
    uuid = open_site(page, site, proxy)
    refused, delivered = proxy.bed.wait_for_settled(2)[:2]
    assert refused.status == 429
    assert delivered.status == 200
    assert [m["uuid"] for m in delivered.messages] == [uuid]
    # Without Retry-After the first back-off would be 0.025 to 0.05 s.
    assert delivered.received_at - refused.received_at >= 0.95
    stored_once(oak, uuid)


def test_5xx_is_retried_with_back_off_until_it_is_delivered_once(
    page: Any, oak: Oak, site: Site, proxy: FlakyProxy
) -> None:
    proxy.bed.script(*[proxy.failure(503)] * 3)
    uuid = open_site(page, site, proxy)
    proxy.bed.wait_for_settled(4)
    stored_once(oak, uuid)
    carrying = proxy.requests_carrying(uuid)
    assert [r.status for r in carrying] == [503, 503, 503, 200]
    gaps = [later.received_at - earlier.received_at for earlier, later in pairwise(carrying)]
    # Jittered between half and all of 0.05, 0.1, 0.2 s: each gap at least half its delay.
    assert all(gap >= 0.05 * 2**n / 2 * 0.9 for n, gap in enumerate(gaps)), gaps


def test_retries_stop_after_max_retries_and_the_next_events_still_go(
    page: Any, oak: Oak, site: Site, proxy: FlakyProxy
) -> None:
    proxy.failing = proxy.failure(503)
    with page.expect_console_message(lambda m: "dropped 1 messages (503)" in m.text):
        uuid = open_site(page, site, proxy)
    assert len(proxy.requests_carrying(uuid)) == 1 + MAX_RETRIES

    proxy.failing = None
    page.evaluate("oak.capture('after_the_outage'); oak.flush()")
    distinct_id = page.evaluate("oak.get_distinct_id()")
    oak.wait_for_events("after_the_outage", lambda e: e.distinct_id == distinct_id)
    # oak.js sends one request at a time, so once a later event went, the dropped one is gone.
    assert len(proxy.requests_carrying(uuid)) == 1 + MAX_RETRIES
    assert all(r.status == 503 for r in proxy.requests_carrying(uuid))
    assert uuid not in {e.uuid for e in oak.events("$pageview")}
