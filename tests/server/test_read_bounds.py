"""The read API answers 400 to odd parameters, reaches every stored id, bounds its pages."""

from __future__ import annotations

import base64

import httpx
import pytest

from oakdata_server.storage.base import MAX_IDS_IN_TIMELINE, MAX_PAGE_BYTES

from .conftest import ADMIN_TOKEN, RunningServer, message, post_batch, timeline

EVERY_ENGINE = True  # storage behaviour: run on every engine (tests/engines.py)


def _cursor(payload: str) -> str:
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "query",
    [
        "limit=%C2%B2",
        "limit=%D9%A3",
        "cursor=" + _cursor('["2026-01-01T00:00:00.000000Z", 9223372036854775808]'),
        "cursor=" + _cursor('["\\ud800", 1]'),
        "cursor=" + _cursor('["not a time", 1]'),
    ],
)
def test_odd_read_parameters_answer_400_with_a_reason(
    server: RunningServer, http: httpx.Client, query: str
) -> None:
    post_batch(http, server, [message(distinct_id="odd-params")])
    response = http.get(
        f"{server.url}/api/oak/persons/odd-params/timeline?{query}",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_parameter"


def test_an_id_holding_a_slash_is_readable_by_query_parameter(
    server: RunningServer, http: httpx.Client
) -> None:
    post_batch(http, server, [message(distinct_id="org/1", event="slashed")])
    response = http.get(
        f"{server.url}/api/oak/persons/timeline",
        params={"distinct_id": "org/1"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert response.status_code == 200, response.text
    assert [e["event"] for e in response.json()["events"]] == ["slashed"]


def test_a_page_of_large_events_is_bounded_in_bytes(
    server: RunningServer, http: httpx.Client
) -> None:
    blob = "x" * (200 * 1024)
    count = MAX_PAGE_BYTES // len(blob) + 5
    for start in range(0, count, 4):
        batch = [
            message(distinct_id="heavy", event=f"e{i}", properties={"blob": blob})
            for i in range(start, min(start + 4, count))
        ]
        assert post_batch(http, server, batch).json()["accepted"] == len(batch)
    seen = 0
    cursor = None
    while True:
        params = {"limit": 1000} | ({"cursor": cursor} if cursor else {})
        response = timeline(http, server, "heavy", **params)
        assert len(response.content) < MAX_PAGE_BYTES + 2 * len(blob)
        seen += len(response.json()["events"])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == count


def test_a_person_with_many_ids_lists_a_bounded_number_and_counts_them_all(
    server: RunningServer, http: httpx.Client
) -> None:
    links = [
        message("alias", distinct_id="many-ids", alias=f"many-ids-{i}")
        for i in range(MAX_IDS_IN_TIMELINE + 20)
    ]
    assert post_batch(http, server, links).json()["accepted"] == len(links)
    body = timeline(http, server, "many-ids").json()
    assert len(body["distinct_ids"]) == MAX_IDS_IN_TIMELINE
    assert body["distinct_id_count"] == MAX_IDS_IN_TIMELINE + 21


def test_a_read_in_progress_does_not_hold_up_ingest(
    server: RunningServer, http: httpx.Client
) -> None:
    # The reading connection's lock is what a slow page holds while it reads; ingest must
    # not wait for it (before, reads and writes shared one connection and one lock). On
    # PostgreSQL a read holds one pooled connection in an open transaction.
    reading = getattr(server.storage, "_reader_lock", None) or server.storage._transaction()  # type: ignore[attr-defined]
    with reading:
        response = post_batch(http, server, [message(distinct_id="while-reading")])
    assert response.status_code == 200
