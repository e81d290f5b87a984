"""The server does what docs/protocol.md says: UTF-8 only, ASCII digits, no skew from latency."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from .conftest import RunningServer, message, now_rfc3339, post_batch, timeline


def _post(http: httpx.Client, server: RunningServer, body: bytes) -> httpx.Response:
    return http.post(
        server.ingest_url,
        content=body,
        headers={"Authorization": f"Bearer {server.secret_key}"},
    )


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: text.encode("utf-16"),
        lambda text: text.encode("utf-16-le"),
        lambda text: text.encode("utf-32"),
        lambda text: b"\xef\xbb\xbf" + text.encode(),
        lambda text: text.replace("strict", "\udcff").encode("utf-8", "surrogatepass"),
    ],
    ids=["utf-16", "utf-16-le", "utf-32", "bom", "raw-surrogate"],
)
def test_a_body_that_is_not_plain_utf8_is_400(
    server: RunningServer, http: httpx.Client, encode: object
) -> None:
    text = json.dumps({"batch": [message(event="strict")]}, ensure_ascii=False)
    response = _post(http, server, encode(text))  # type: ignore[operator]
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_json"


def test_a_timestamp_in_non_ascii_digits_is_rejected(
    server: RunningServer, http: httpx.Client
) -> None:
    # 2026-11-01T12:00:00Z in Arabic-Indic digits (U+0660 to U+0669).
    arabic = "2026-11-01T12:00:00Z".translate({ord(d): 0x0660 + int(d) for d in "0123456789"})
    body = post_batch(http, server, [message(timestamp=arabic)]).json()
    assert body["accepted"] == 0
    assert body["rejected"][0]["reason"].startswith("timestamp")
    sent_at = post_batch(http, server, [message()], sent_at=arabic)
    assert sent_at.status_code == 422


def test_events_sent_in_turn_keep_their_order_despite_request_latency(
    server: RunningServer, http: httpx.Client
) -> None:
    # Three events 1 ms apart, one request each (flush_at=1). The first request's sent_at
    # says it spent 0.8 s in flight, the others none: correcting by that latency would move
    # the first event after the other two.
    start = datetime.now(timezone.utc) - timedelta(seconds=1)
    for i, latency in enumerate((0.8, 0.0, 0.0)):
        moment = start + timedelta(milliseconds=i)
        sent_at = datetime.now(timezone.utc) - timedelta(seconds=latency)
        batch = [message(distinct_id="in-turn", event=f"e{i}", timestamp=now_rfc3339(moment))]
        assert post_batch(http, server, batch, sent_at=now_rfc3339(sent_at)).status_code == 200
    events = timeline(http, server, "in-turn").json()["events"]
    assert [e["event"] for e in events] == ["e0", "e1", "e2"]


def test_a_clock_wrong_by_minutes_is_still_corrected(
    server: RunningServer, http: httpx.Client
) -> None:
    slow = datetime.now(timezone.utc) - timedelta(minutes=5)
    batch = [message(distinct_id="slow-clock", timestamp=now_rfc3339(slow))]
    post_batch(http, server, batch, sent_at=now_rfc3339(slow))
    stored = timeline(http, server, "slow-clock").json()["events"][0]["timestamp"]
    assert abs(
        datetime.fromisoformat(stored.replace("Z", "+00:00")) - (slow + timedelta(minutes=5))
    ) < timedelta(seconds=30)
