"""The gaps in tests/server: limits met in the ways tests/server does not try, and key misuse.

Already covered there: a body over the limit with a Content-Length, a gzip bomb, 1001
messages, a 201-character distinct_id, revocation at the HTTP level and from the CLI, a public
key from another origin or sending group_identify. Here: a declared length answered before the
body is sent, a chunked body, an uncompressed body over the decompressed limit, configured
limits, every length-limited field at its boundary, a message over 256 KiB, the SDK's very next
batch after a revocation, and origins that only look registered.
"""

from __future__ import annotations

import gzip
import json
import socket
import uuid as uuid_module
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from oakdata import OakClient

from .ingest import ALLOWED_ORIGIN, IngestServer, stored_event_uuids

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def limits_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestServer]:
    # A body limit above the decompressed one, so an uncompressed body can pass the first and
    # meet the second; a message limit above the protocol's 1000.
    server = IngestServer(
        tmp_path_factory.mktemp("limits") / "oakdata.db",
        max_body_bytes=3 * MIB,
        max_decompressed_bytes=2 * MIB,
        max_batch_messages=1200,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestServer]:
    server = IngestServer(tmp_path_factory.mktemp("default") / "oakdata.db")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=15.0) as client:
        yield client


def stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def capture(**fields: Any) -> dict[str, Any]:
    message = {
        "type": "capture",
        "uuid": str(uuid_module.uuid4()),
        "timestamp": stamp(),
        "distinct_id": "bounds-user",
        "event": "bounded",
        "properties": {},
    }
    message.update(fields)
    return message


def post(
    http: httpx.Client,
    server: IngestServer,
    batch: list[dict[str, Any]],
    key: str | None = None,
    origin: str | None = None,
    compress: bool = True,
) -> httpx.Response:
    body = json.dumps({"batch": batch, "sent_at": stamp()}).encode()
    headers = {"Authorization": f"Bearer {key or server.secret_key}"}
    if compress:
        body = gzip.compress(body, compresslevel=1)
        headers["Content-Encoding"] = "gzip"
    if origin:
        headers["Origin"] = origin
    return http.post(server.ingest_url, content=body, headers=headers)


def assert_error(response: httpx.Response, status: int, code: str, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code
    for word in words:
        assert word in error["message"], error["message"]


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_sent(
    server: IngestServer,
) -> None:
    head = (
        "POST /api/oak/ingest HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {server.secret_key}\r\n"
        f"Content-Length: {64 * MIB}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10.0) as sock:
        sock.sendall(head)  # and not one byte of the 64 MiB
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    assert b" 413 " in status_line, answer[:200]
    body = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert body["error"]["code"] == "body_too_large"
    assert str(MIB) in body["error"]["message"]


def test_a_chunked_body_over_the_limit_is_413_as_it_arrives(
    server: IngestServer, http: httpx.Client
) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):  # 2.5 MiB in all, no Content-Length
            yield b" " * (128 * 1024)

    response = http.post(
        server.ingest_url,
        content=chunks(),
        headers={"Authorization": f"Bearer {server.secret_key}"},
    )
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "body_too_large", str(MIB))


def test_an_uncompressed_body_over_the_decompressed_limit_is_413(
    limits_server: IngestServer, http: httpx.Client
) -> None:
    batch = [capture(properties={"pad": "x" * 2200}) for _ in range(1000)]
    response = post(http, limits_server, batch, compress=False)
    assert_error(response, 413, "decompressed_too_large", str(2 * MIB))


def test_the_configured_message_limit_is_the_boundary(
    limits_server: IngestServer, http: httpx.Client
) -> None:
    accepted = post(http, limits_server, [capture() for _ in range(1200)])
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["accepted"] == 1200
    refused = post(http, limits_server, [capture() for _ in range(1201)])
    assert_error(refused, 413, "too_many_messages", "1200")


def _fields_at(length: int) -> list[tuple[str, dict[str, Any]]]:
    text = "a" * length
    base = {"uuid": "", "timestamp": ""}
    return [
        ("distinct_id", {**base, "type": "capture", "distinct_id": text, "event": "e"}),
        ("event", {**base, "type": "capture", "distinct_id": "u", "event": text}),
        (
            "groups",
            {**base, "type": "capture", "distinct_id": "u", "event": "e", "groups": {text: "k"}},
        ),
        (
            "groups",
            {
                **base,
                "type": "capture",
                "distinct_id": "u",
                "event": "e",
                "groups": {"company": text},
            },
        ),
        ("distinct_id", {**base, "type": "identify", "distinct_id": text}),
        (
            "properties",
            {
                **base,
                "type": "identify",
                "distinct_id": "u",
                "properties": {"$anon_distinct_id": text},
            },
        ),
        ("distinct_id", {**base, "type": "alias", "distinct_id": text, "alias": "b"}),
        ("alias", {**base, "type": "alias", "distinct_id": "a", "alias": text}),
        ("group_type", {**base, "type": "group_identify", "group_type": text, "group_key": "k"}),
        ("group_key", {**base, "type": "group_identify", "group_type": "t", "group_key": text}),
    ]


def _fresh(message: dict[str, Any]) -> dict[str, Any]:
    return {**message, "uuid": str(uuid_module.uuid4()), "timestamp": stamp()}


def test_every_length_limited_field_takes_200_characters_and_rejects_201_naming_the_field(
    server: IngestServer, http: httpx.Client
) -> None:
    # Per protocol section 7, an invalid message is rejected by index in a 200, not a 4xx:
    # its neighbours are stored.
    at_limit = [_fresh(m) for _, m in _fields_at(200)]
    response = post(http, server, at_limit)
    assert response.json() == {"accepted": len(at_limit), "duplicates": 0, "rejected": []}
    over = _fields_at(201)
    response = post(http, server, [_fresh(m) for _, m in over])
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 0
    reasons = {item["index"]: item["reason"] for item in body["rejected"]}
    assert sorted(reasons) == list(range(len(over)))
    for index, (field, _) in enumerate(over):
        assert reasons[index].split(":")[0].startswith(field), (index, reasons[index])


def test_more_than_50_groups_is_rejected_naming_groups(
    server: IngestServer, http: httpx.Client
) -> None:
    groups = {f"type{i}": "key" for i in range(51)}
    response = post(http, server, [capture(groups=groups), capture()])
    body = response.json()
    assert body["accepted"] == 1
    [rejected] = body["rejected"]
    assert rejected["index"] == 0
    assert rejected["reason"].startswith("groups")


def test_a_message_over_256_kib_is_rejected_by_index_and_its_neighbours_stored(
    server: IngestServer, http: httpx.Client
) -> None:
    small = capture()
    exactly = capture(properties={"pad": ""})
    exactly["properties"]["pad"] = "x" * (
        256 * 1024 - len(json.dumps(exactly, separators=(",", ":")))
    )
    assert len(json.dumps(exactly, separators=(",", ":")).encode()) == 256 * 1024
    over = capture(properties={"pad": "x" * (256 * 1024)})
    response = post(http, server, [small, exactly, over])
    body = response.json()
    assert body["accepted"] == 2, body
    assert body["rejected"] == [{"index": 2, "reason": "message: larger than 262144 bytes"}]
    stored = stored_event_uuids(server.db_path)
    assert stored[small["uuid"]] == 1
    assert stored[exactly["uuid"]] == 1
    assert stored[over["uuid"]] == 0


def test_the_sdks_very_next_batch_after_a_revocation_is_refused_and_not_stored(
    server: IngestServer,
) -> None:
    key = server.new_key()
    client = OakClient(key, host=server.url, flush_interval=0, max_retries=0)
    try:
        before = client.capture("revoked-midway", "before")
        assert client.flush(timeout=15.0)
        assert server.revoke(key)
        after = client.capture("revoked-midway", "after")
        assert not client.flush(timeout=15.0)
    finally:
        client.shutdown(timeout=15.0)
    stats = client.stats()
    assert (stats.delivered, stats.dropped["client_error"]) == (1, 1)
    stored = stored_event_uuids(server.db_path)
    assert before is not None
    assert after is not None
    assert (stored[before], stored[after]) == (1, 0)


@pytest.mark.parametrize(
    "origin",
    [
        "http://app.example.com",  # another scheme
        "https://app.example.com:8443",  # another port
        "https://app.example.com/app",  # a path (a trailing "/" alone is normalized away)
        "https://evil.app.example.com",  # a subdomain
        "https://app.example.com.evil.com",  # a suffix
        "https://app.example.co",  # a prefix
        "null",  # sandboxed iframes and file:// pages
        "https://app.example.com, https://evil.com",  # a list
    ],
)
def test_a_public_key_refuses_origins_that_only_look_registered(
    server: IngestServer, http: httpx.Client, origin: str
) -> None:
    message = capture()
    response = post(http, server, [message], key=server.public_key, origin=origin)
    assert_error(response, 403, "origin_not_allowed")
    assert stored_event_uuids(server.db_path)[message["uuid"]] == 0


def test_a_public_key_refuses_an_origin_registered_only_with_another_key(
    server: IngestServer, http: httpx.Client
) -> None:
    other_origin = "https://other.example.com"
    server.new_key("public", (other_origin,))
    message = capture()
    response = post(http, server, [message], key=server.public_key, origin=other_origin)
    assert_error(response, 403, "origin_not_allowed")
    assert stored_event_uuids(server.db_path)[message["uuid"]] == 0


def test_a_public_key_may_send_capture_identify_and_alias_but_never_group_identify_alone(
    server: IngestServer, http: httpx.Client
) -> None:
    allowed = [
        capture(),
        _fresh({"type": "identify", "distinct_id": "pub-user", "properties": {"a": 1}}),
        _fresh({"type": "alias", "distinct_id": "pub-user", "alias": "pub-anon"}),
    ]
    ok = post(http, server, allowed, key=server.public_key, origin=ALLOWED_ORIGIN)
    assert ok.json()["accepted"] == 3, ok.text
    group = _fresh(
        {
            "type": "group_identify",
            "group_type": "company",
            "group_key": "pub-co",
            "properties": {"name": "x"},
        }
    )
    refused = post(http, server, [group], key=server.public_key, origin=ALLOWED_ORIGIN)
    assert_error(refused, 403, "message_type_not_allowed")
    again = post(http, server, [group])  # the secret key: it had not been stored
    assert again.json() == {"accepted": 1, "duplicates": 0, "rejected": []}


def test_limits_hold_for_the_default_server_without_configuration(tmp_path: Path) -> None:
    # The defaults documented in docs/protocol.md section 7, as the server reports them.
    with IngestServer(tmp_path / "oakdata.db") as server, httpx.Client(timeout=15.0) as http:
        refused = post(http, server, [capture() for _ in range(1001)])
        assert_error(refused, 413, "too_many_messages", "1000")
