"""What a holder of the public key (anyone who can open the web page) can and cannot do."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from engines import query, stored_id, stored_message_uuids

from .conftest import ALLOWED_ORIGIN, RunningServer, message, now_rfc3339, post_batch, timeline

EVERY_ENGINE = True  # storage behaviour: run on every engine (tests/engines.py)


def _public(http: httpx.Client, server: RunningServer, batch: list[Any]) -> dict[str, Any]:
    response = post_batch(http, server, batch, key=server.public_key, origin=ALLOWED_ORIGIN)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _stored_uuids(server: RunningServer) -> set[str]:
    return stored_message_uuids(server.storage_url)


def test_a_public_key_cannot_merge_two_identified_persons(
    server: RunningServer, http: httpx.Client
) -> None:
    post_batch(
        http,
        server,
        [
            message("identify", distinct_id="victim_42", properties={"email": "v@example.com"}),
            message("identify", distinct_id="attacker_1", properties={"email": "a@evil.test"}),
        ],
    )
    attack = message("alias", distinct_id="victim_42", alias="attacker_1")
    login = message(
        "identify", distinct_id="attacker_1", properties={"$anon_distinct_id": "victim_42"}
    )
    body = _public(http, server, [message(distinct_id="attacker_1"), attack, login])
    assert body["accepted"] == 1
    assert [r["index"] for r in body["rejected"]] == [1, 2]
    assert "secret key" in body["rejected"][0]["reason"]
    assert attack["uuid"] not in _stored_uuids(server)  # not stored, so not deduplicated later
    victim = timeline(http, server, "victim_42").json()
    assert victim["distinct_ids"] == ["victim_42"]
    assert victim["properties"] == {"email": "v@example.com"}


def test_a_public_key_still_links_an_anonymous_id_at_login(
    server: RunningServer, http: httpx.Client
) -> None:
    post_batch(http, server, [message("identify", distinct_id="member_7", properties={})])
    body = _public(
        http,
        server,
        [
            message(distinct_id="anon-7", event="$pageview"),
            message("identify", distinct_id="member_7", properties={"$anon_distinct_id": "anon-7"}),
            message("alias", distinct_id="member_7", alias="fresh-device-7"),
        ],
    )
    assert (body["accepted"], body["rejected"]) == (3, [])
    ids = timeline(http, server, "anon-7").json()["distinct_ids"]
    assert ids == ["anon-7", "fresh-device-7", "member_7"]


def test_a_secret_key_may_merge_identified_persons(
    server: RunningServer, http: httpx.Client
) -> None:
    post_batch(
        http,
        server,
        [
            message("identify", distinct_id="acct-a", properties={}),
            message("identify", distinct_id="acct-b", properties={}),
            message("alias", distinct_id="acct-a", alias="acct-b"),
        ],
    )
    assert timeline(http, server, "acct-a").json()["distinct_ids"] == ["acct-a", "acct-b"]


def test_a_far_future_timestamp_is_clamped_so_a_later_identify_wins(
    server: RunningServer, http: httpx.Client
) -> None:
    forged = message(
        "identify",
        distinct_id="clamped",
        timestamp="9999-12-31T23:59:59Z",
        properties={"nickname": "forged"},
    )
    _public(http, server, [forged])
    later = datetime.now(timezone.utc) + timedelta(seconds=1)
    _public(
        http,
        server,
        [
            message(
                "identify",
                distinct_id="clamped",
                timestamp=now_rfc3339(later),
                properties={"nickname": "real"},
            )
        ],
    )
    assert timeline(http, server, "clamped").json()["properties"] == {"nickname": "real"}
    post_batch(http, server, [message(distinct_id="clamped", timestamp=forged["timestamp"])])
    ((stored, original),) = query(
        server.storage_url,
        "SELECT timestamp, client_timestamp FROM events WHERE distinct_id = ?",
        (stored_id(server.storage_url, "clamped"),),
    )
    assert stored < "9999"
    assert original.startswith("9999-12-31T23:59:59")


def test_properties_a_secret_key_set_cannot_be_changed_from_a_public_key(
    server: RunningServer, http: httpx.Client
) -> None:
    post_batch(
        http,
        server,
        [message("identify", distinct_id="billing-1", properties={"plan": "free"})],
    )
    later = now_rfc3339(datetime.now(timezone.utc) + timedelta(seconds=1))
    _public(
        http,
        server,
        [
            message(
                "identify",
                distinct_id="billing-1",
                timestamp=later,
                properties={"plan": "enterprise", "theme": "dark"},
            )
        ],
    )
    # The browser may add what billing never set, but not change what it did.
    assert timeline(http, server, "billing-1").json()["properties"] == {
        "plan": "free",
        "theme": "dark",
    }
    post_batch(
        http,
        server,
        [message("identify", distinct_id="billing-1", properties={"theme": "light"})],
    )
    assert timeline(http, server, "billing-1").json()["properties"]["theme"] == "light"
