from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from .conftest import ADMIN_TOKEN, RunningServer, message, post_batch, timeline

EVERY_ENGINE = True  # storage behaviour: run on every engine (tests/engines.py)

REPO = Path(__file__).resolve().parents[2]


def test_a_timeline_pages_through_every_event_with_a_cursor(
    server: RunningServer, http: httpx.Client
) -> None:
    post_batch(http, server, [message(distinct_id="pager", event=f"e{i}") for i in range(7)])
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = timeline(http, server, "pager", **params).json()
        seen += [e["event"] for e in page["events"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [f"e{i}" for i in range(7)]
    assert len(seen) == 7


def test_a_groups_pages_go_in_time_order_ties_by_arrival_each_event_once(
    server: RunningServer, http: httpx.Client
) -> None:
    start = datetime.now(timezone.utc) - timedelta(hours=1)
    seconds = [3, 1, 2, 2, 2, 0, 4]  # three at the same moment: a page ends among them
    post_batch(
        http,
        server,
        [
            message(
                distinct_id=f"member-{i % 2}",
                event=f"e{i}",
                timestamp=(start + timedelta(seconds=s)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                groups={"company": "pager-inc"},
            )
            for i, s in enumerate(seconds)
        ],
    )
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = http.get(
            f"{server.url}/api/oak/groups/company/pager-inc",
            params=params,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        ).json()
        seen += [e["event"] for e in page["events"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["e5", "e1", "e2", "e3", "e4", "e0", "e6"]


@pytest.mark.parametrize("token", [None, "wrong-token-wrong-token", "oak_sec_notadmin"])
def test_reading_needs_the_admin_token(
    server: RunningServer, http: httpx.Client, token: str | None
) -> None:
    post_batch(http, server, [message(distinct_id="guarded")])
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = http.get(f"{server.url}/api/oak/persons/guarded/timeline", headers=headers)
    assert response.status_code == 401


def test_a_secret_ingest_key_cannot_read(server: RunningServer, http: httpx.Client) -> None:
    response = http.get(
        f"{server.url}/api/oak/persons/guarded/timeline",
        headers={"Authorization": f"Bearer {server.secret_key}"},
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"limit": 0}, 400),
        ({"limit": "x"}, 400),
        ({"cursor": "!!"}, 400),
        ({"project": "nope"}, 404),
    ],
)
def test_bad_reading_parameters_are_named(
    server: RunningServer, http: httpx.Client, params: dict[str, object], status: int
) -> None:
    post_batch(http, server, [message(distinct_id="params")])
    assert timeline(http, server, "params", **params).status_code == status


def test_an_unknown_person_or_group_is_404(server: RunningServer, http: httpx.Client) -> None:
    assert timeline(http, server, "nobody-at-all").status_code == 404
    response = http.get(
        f"{server.url}/api/oak/groups/company/none",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert response.status_code == 404


def test_the_served_openapi_document_equals_docs_openapi_json(
    server: RunningServer, http: httpx.Client
) -> None:
    served = http.get(f"{server.url}/api/oak/openapi.json")
    assert served.status_code == 200
    kept = (REPO / "docs" / "openapi.json").read_text()
    regenerate = "python -m oakdata_server.openapi > docs/openapi.json"
    assert served.json() == json.loads(kept), f"run: {regenerate}"
    assert served.text == kept
