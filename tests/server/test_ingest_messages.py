from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx

from .conftest import RunningServer, message, now_rfc3339, post_batch, timeline

EVERY_ENGINE = True  # storage behaviour: run on every engine (tests/engines.py)


def test_invalid_messages_are_listed_by_index_and_valid_ones_stored(
    server: RunningServer, http: httpx.Client
) -> None:
    batch = [
        message(distinct_id="mixed-batch"),
        "not an object",
        message(type="unknown"),
        message(uuid="not-a-uuid"),
        message(timestamp="28/11/2026"),
        message(distinct_id=""),
        message(distinct_id="x" * 201),
        message(event=None),
        message(properties=[1, 2]),
        message(groups={"company": 5}),
        message("alias", alias=""),
        message("identify", properties={"$anon_distinct_id": 7}),
        message("group_identify", group_key=""),
        message(properties={"big": "x" * (256 * 1024)}),
        message(distinct_id="mixed-batch", event="second"),
    ]
    response = post_batch(http, server, batch)
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 2
    assert body["duplicates"] == 0
    reasons = {r["index"]: r["reason"] for r in body["rejected"]}
    assert sorted(reasons) == list(range(1, 14))
    assert reasons[3].startswith("uuid:")
    assert reasons[4].startswith("timestamp:")
    assert reasons[6].startswith("distinct_id:")
    assert reasons[13].startswith("message:")
    events = timeline(http, server, "mixed-batch").json()["events"]
    assert [e["event"] for e in events] == ["clicked", "second"]


def test_a_batch_sent_twice_is_stored_once(server: RunningServer, http: httpx.Client) -> None:
    batch = [message(distinct_id="retried", event=f"e{i}") for i in range(5)]
    first = post_batch(http, server, batch).json()
    second = post_batch(http, server, batch).json()
    assert (first["accepted"], first["duplicates"]) == (5, 0)
    assert (second["accepted"], second["duplicates"]) == (0, 5)
    assert len(timeline(http, server, "retried").json()["events"]) == 5


def test_a_uuid_repeated_within_one_batch_is_a_duplicate(
    server: RunningServer, http: httpx.Client
) -> None:
    one = message(distinct_id="same-batch-dup")
    body = post_batch(http, server, [one, dict(one, event="other")]).json()
    assert (body["accepted"], body["duplicates"]) == (1, 1)
    events = timeline(http, server, "same-batch-dup").json()["events"]
    assert [e["event"] for e in events] == ["clicked"]


def test_uppercase_uuids_de_duplicate_with_lowercase_ones(
    server: RunningServer, http: httpx.Client
) -> None:
    one = message(distinct_id="case-dup")
    post_batch(http, server, [one])
    body = post_batch(http, server, [dict(one, uuid=one["uuid"].upper())]).json()
    assert body["duplicates"] == 1


def test_timestamps_are_shifted_by_the_client_clock_skew(
    server: RunningServer, http: httpx.Client
) -> None:
    client_clock = datetime.now(timezone.utc) - timedelta(hours=2)  # the client is 2 h behind
    happened = client_clock - timedelta(seconds=30)
    response = post_batch(
        http,
        server,
        [message(distinct_id="skewed", timestamp=now_rfc3339(happened))],
        sent_at=now_rfc3339(client_clock),
    )
    assert response.json()["accepted"] == 1
    (event,) = timeline(http, server, "skewed").json()["events"]
    stored = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))  # 3.10: no Z
    expected = datetime.now(timezone.utc) - timedelta(seconds=30)
    assert abs((stored - expected).total_seconds()) < 5
    assert event["client_timestamp"] == now_rfc3339(happened)


def test_without_sent_at_timestamps_are_stored_as_sent(
    server: RunningServer, http: httpx.Client
) -> None:
    sent = "2020-01-02T03:04:05.5+02:00"
    response = http.post(
        server.ingest_url,
        json={"batch": [message(distinct_id="unskewed", timestamp=sent)]},
        headers={"Authorization": f"Bearer {server.secret_key}"},
    )
    assert response.json()["accepted"] == 1
    (event,) = timeline(http, server, "unskewed").json()["events"]
    assert event["timestamp"] == "2020-01-02T01:04:05.500000Z"
