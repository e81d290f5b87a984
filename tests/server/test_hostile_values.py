"""Values that once made a timeline unreadable for ever are refused, and reading never fails."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from engines import engine_of, query, stored_id
from oakdata_server.json_values import MAX_DEPTH

from .conftest import RunningServer, message, now_rfc3339, post_batch, timeline

EVERY_ENGINE = True  # storage behaviour: run on every engine (tests/engines.py)


def _nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"d": value}
    return value


def _nested_text(depth: int) -> str:
    # Spelled out: json.dumps itself recurses, and 980 levels exceed its limit on Python 3.10.
    return '{"d":' * depth + '"bottom"' + "}" * depth


def _raw_post(http: httpx.Client, server: RunningServer, text: str) -> httpx.Response:
    return http.post(
        server.ingest_url,
        content=text.encode(),
        headers={"Authorization": f"Bearer {server.secret_key}"},
    )


@pytest.mark.parametrize(
    ("literal", "reason"),
    [
        ("1e999", "finite"),
        ("-1e999", "finite"),
        ("18446744073709551616", "64 bits"),
        (_nested_text(MAX_DEPTH), "nested deeper"),
        (_nested_text(980), "nested deeper"),
    ],
)
def test_unstorable_values_are_rejected_by_index_with_a_reason(
    server: RunningServer, http: httpx.Client, literal: str, reason: str
) -> None:
    good = json.dumps(message(distinct_id="hostile-ok"))
    bad = message(distinct_id="hostile-bad", properties={})
    text = json.dumps(bad).replace('"properties": {}', f'"properties": {{"n": {literal}}}')
    response = _raw_post(http, server, f'{{"batch": [{good}, {text}]}}')
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 1
    assert [r["index"] for r in body["rejected"]] == [1]
    assert reason in body["rejected"][0]["reason"]
    assert body["rejected"][0]["reason"].startswith("properties.n")


NASTY_BUT_ACCEPTED = {
    "deep": _nested(MAX_DEPTH - 1),
    "max": 18446744073709551615,
    "min": -9223372036854775808,
    "huge": 1.7976931348623157e308,
    "tiny": 5e-324,
    "negative_zero": -0.0,
    "empty": {"": [None, [], {}]},
    "unicode": "\u0000\u2028\ufeff\U0001f600",
    "dotted.key": {"$.path": "[0]"},
}


def test_every_accepted_nasty_value_reads_back_through_the_api_and_json_extract(
    server: RunningServer, http: httpx.Client
) -> None:
    batch = [
        message(distinct_id="nasty", event="nasty", properties={name: value})
        for name, value in NASTY_BUT_ACCEPTED.items()
    ]
    batch.append(message("identify", distinct_id="nasty", properties=NASTY_BUT_ACCEPTED))
    assert post_batch(http, server, batch).json() == {
        "accepted": len(batch),
        "duplicates": 0,
        "rejected": [],
    }
    response = timeline(http, server, "nasty")
    assert response.status_code == 200
    read = {k: v for e in response.json()["events"] for k, v in e["properties"].items()}
    assert read == NASTY_BUT_ACCEPTED
    assert response.json()["properties"] == NASTY_BUT_ACCEPTED
    # Over the whole table: one unreadable row would make this fail for everyone.
    engine = engine_of(server.storage_url)
    if engine == "clickhouse":
        # 18.16 has no JSON check to run over the column; the read above parsed every row.
        query(server.storage_url, "SELECT properties::json FROM persons")
    elif engine == "postgresql":
        # json, not jsonb, and no -> into it: both refuse "\u0000", which JSON allows.
        query(server.storage_url, "SELECT properties::json FROM events")
        query(server.storage_url, "SELECT properties::json FROM persons")
    else:
        query(server.storage_url, "SELECT json_extract(properties, '$.deep') FROM events")
        query(server.storage_url, "SELECT json_extract(properties, '$') FROM persons")


def test_a_timeline_holding_rows_no_ingest_would_accept_still_reads(
    server: RunningServer, http: httpx.Client
) -> None:
    post_batch(http, server, [message(distinct_id="old-rows", event="fine")])
    for text in ('{"n":Infinity}', '{"n":NaN}', _nested_text(990), "[1,2]", "{"):
        query(
            server.storage_url,
            "INSERT INTO events (project_id, uuid, distinct_id, event, timestamp,"
            " client_timestamp, received_at, properties, groups)"
            " VALUES (1, ?, ?, ?, ?, ?, ?, ?, '{}')",
            (
                str(uuid.uuid4()),
                stored_id(server.storage_url, "old-rows"),
                stored_id(server.storage_url, "written-by-hand"),
                now_rfc3339(),
                now_rfc3339(),
                now_rfc3339(),
                text,
            ),
        )
    response = timeline(http, server, "old-rows")
    assert response.status_code == 200, response.text
    events = response.json()["events"]
    assert len(events) == 6
    assert sum("$unreadable" in e["properties"] for e in events) == 5
