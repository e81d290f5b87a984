from __future__ import annotations

import httpx

from .conftest import ALLOWED_ORIGIN, RunningServer, message, post_batch


def test_a_request_without_a_key_is_401_missing_key(
    server: RunningServer, http: httpx.Client
) -> None:
    response = http.post(server.ingest_url, json={"batch": [message()]})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_key"


def test_an_unknown_key_is_401_invalid_key(server: RunningServer, http: httpx.Client) -> None:
    for key in ("oak_sec_00000000notakey", "nonsense", "oak_pub_x"):
        response = post_batch(http, server, [message()], key=key)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_key"


def test_a_key_differing_in_its_secret_part_is_refused(
    server: RunningServer, http: httpx.Client
) -> None:
    forged = server.secret_key[:-4] + ("AAAA" if not server.secret_key.endswith("AAAA") else "BBBB")
    assert post_batch(http, server, [message()], key=forged).status_code == 401


def test_a_revoked_key_is_refused_on_the_next_request(
    server: RunningServer, http: httpx.Client
) -> None:
    key = server.new_key()
    assert post_batch(http, server, [message()], key=key).status_code == 200
    assert server.storage.revoke_key(key[:16])
    response = post_batch(http, server, [message()], key=key)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_key"


def test_a_public_key_from_its_registered_origin_is_accepted_with_cors_headers(
    server: RunningServer, http: httpx.Client
) -> None:
    response = post_batch(http, server, [message()], key=server.public_key, origin=ALLOWED_ORIGIN)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN


def test_a_public_key_from_another_origin_is_403(server: RunningServer, http: httpx.Client) -> None:
    for origin in ("https://evil.example.com", None):
        response = post_batch(http, server, [message()], key=server.public_key, origin=origin)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "origin_not_allowed"


def test_a_public_key_sending_group_identify_is_403_and_stores_nothing(
    server: RunningServer, http: httpx.Client
) -> None:
    capture = message(distinct_id="public-group-sender")
    response = post_batch(
        http,
        server,
        [capture, message("group_identify")],
        key=server.public_key,
        origin=ALLOWED_ORIGIN,
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "message_type_not_allowed"
    again = post_batch(http, server, [capture])
    assert again.json()["accepted"] == 1  # the capture had not been stored


def test_a_secret_key_ignores_the_origin(server: RunningServer, http: httpx.Client) -> None:
    response = post_batch(http, server, [message()], origin="https://anywhere.example.org")
    assert response.status_code == 200


def test_a_preflight_from_a_registered_origin_is_answered(
    server: RunningServer, http: httpx.Client
) -> None:
    response = http.options(
        server.ingest_url,
        headers={
            "Origin": ALLOWED_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "Authorization" in response.headers["access-control-allow-headers"]
    assert "POST" in response.headers["access-control-allow-methods"]


def test_a_preflight_from_an_unregistered_origin_is_403_without_cors_headers(
    server: RunningServer, http: httpx.Client
) -> None:
    response = http.options(server.ingest_url, headers={"Origin": "https://evil.example.com"})
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers
