"""Protocol 1.1: a public key in the query string or the envelope, for navigator.sendBeacon."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from .conftest import ALLOWED_ORIGIN, RunningServer, message, now_rfc3339, timeline

# What sendBeacon and a preflight-free fetch send: no Authorization, a CORS-safelisted type.
PLAIN = {"Content-Type": "text/plain;charset=UTF-8"}


def post_plain(
    http: httpx.Client,
    server: RunningServer,
    batch: list[Any],
    *,
    query_key: str | None = None,
    body_key: str | None = None,
    origin: str | None = ALLOWED_ORIGIN,
) -> httpx.Response:
    envelope: dict[str, Any] = {"batch": batch, "sent_at": now_rfc3339()}
    if body_key is not None:
        envelope["api_key"] = body_key
    headers = dict(PLAIN)
    if origin is not None:
        headers["Origin"] = origin
    params = {} if query_key is None else {"key": query_key}
    return http.post(
        server.ingest_url, params=params, content=json.dumps(envelope), headers=headers
    )


@pytest.mark.parametrize("where", ["query", "body"])
def test_a_public_key_outside_the_header_is_accepted_from_its_origin(
    server: RunningServer, http: httpx.Client, where: str
) -> None:
    distinct_id = f"beacon-{where}"
    key = {f"{where}_key": server.public_key}
    response = post_plain(http, server, [message(distinct_id=distinct_id)], **key)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "Retry-After" in response.headers["access-control-expose-headers"]
    assert len(timeline(http, server, distinct_id).json()["events"]) == 1


@pytest.mark.parametrize("where", ["query", "body"])
def test_a_secret_key_outside_the_header_is_refused_and_stores_nothing(
    server: RunningServer, http: httpx.Client, where: str
) -> None:
    distinct_id = f"secret-in-{where}"
    key = {f"{where}_key": server.secret_key}
    response = post_plain(http, server, [message(distinct_id=distinct_id)], origin=None, **key)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "key_not_allowed_here"
    assert timeline(http, server, distinct_id).status_code == 404


def test_a_secret_key_in_the_query_is_refused_even_beside_a_good_header(
    server: RunningServer, http: httpx.Client
) -> None:
    response = http.post(
        server.ingest_url,
        params={"key": server.secret_key},
        json={"batch": [message()]},
        headers={"Authorization": f"Bearer {server.secret_key}"},
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "key_not_allowed_here"


@pytest.mark.parametrize("where", ["query", "body"])
@pytest.mark.parametrize("origin", ["https://evil.example.com", None])
def test_a_public_key_outside_the_header_from_a_wrong_origin_is_refused(
    server: RunningServer, http: httpx.Client, where: str, origin: str | None
) -> None:
    key = {f"{where}_key": server.public_key}
    response = post_plain(http, server, [message()], origin=origin, **key)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "origin_not_allowed"
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("where", ["query", "body"])
def test_a_public_key_outside_the_header_keeps_the_public_key_rules(
    server: RunningServer, http: httpx.Client, where: str
) -> None:
    key = {f"{where}_key": server.public_key}
    response = post_plain(http, server, [message("group_identify")], **key)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "message_type_not_allowed"


def test_no_key_anywhere_is_still_401_missing_key(
    server: RunningServer, http: httpx.Client
) -> None:
    response = post_plain(http, server, [message()])
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_key"
