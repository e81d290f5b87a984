from __future__ import annotations

import gzip
import json
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import RunningServer, message, post_batch, start_server


def _post(http: httpx.Client, server: RunningServer, body: bytes, **headers: str) -> httpx.Response:
    return http.post(
        server.ingest_url,
        content=body,
        headers={"Authorization": f"Bearer {server.secret_key}", **headers},
    )


def _code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


def test_a_body_that_is_not_json_is_400_invalid_json(
    server: RunningServer, http: httpx.Client
) -> None:
    for body in (b"{not json", b"\xff\xfe\x00", b'{"batch": [NaN]}', b""):
        response = _post(http, server, body)
        assert response.status_code == 400, body
        assert _code(response) == "invalid_json"


def test_a_body_that_is_not_gzip_is_400_invalid_gzip(
    server: RunningServer, http: httpx.Client
) -> None:
    truncated = gzip.compress(b'{"batch": []}')[:-6]
    for body in (b'{"batch": []}', truncated):
        response = _post(http, server, body, **{"Content-Encoding": "gzip"})
        assert response.status_code == 400
        assert _code(response) == "invalid_gzip"


def test_an_unknown_content_encoding_is_400(server: RunningServer, http: httpx.Client) -> None:
    response = _post(http, server, b'{"batch": []}', **{"Content-Encoding": "br"})
    assert response.status_code == 400
    assert _code(response) == "unsupported_content_encoding"


@pytest.mark.parametrize(
    "document",
    [
        [],
        "batch",
        {"no_batch": []},
        {"batch": {}},
        {"batch": [], "sent_at": "yesterday"},
        {"batch": [], "sent_at": 17},
    ],
)
def test_json_that_is_not_an_envelope_is_422(
    server: RunningServer, http: httpx.Client, document: object
) -> None:
    response = _post(http, server, json.dumps(document).encode())
    assert response.status_code == 422
    assert _code(response) == "invalid_envelope"


def test_an_empty_batch_is_accepted_with_zero_counts(
    server: RunningServer, http: httpx.Client
) -> None:
    response = post_batch(http, server, [])
    assert response.json() == {"accepted": 0, "duplicates": 0, "rejected": []}


def test_a_body_over_the_limit_is_413(server: RunningServer, http: httpx.Client) -> None:
    response = _post(http, server, b" " * (1024 * 1024 + 1))
    assert response.status_code == 413
    assert _code(response) == "body_too_large"


def test_more_than_1000_messages_is_413(server: RunningServer, http: httpx.Client) -> None:
    response = post_batch(http, server, [message() for _ in range(1001)])
    assert response.status_code == 413
    assert _code(response) == "too_many_messages"


def test_a_full_batch_of_1000_messages_up_to_1_mib_is_accepted(
    server: RunningServer, http: httpx.Client
) -> None:
    padding = "x" * 820
    batch = [message(properties={"pad": padding}) for _ in range(1000)]
    assert len(json.dumps({"batch": batch})) < 1024 * 1024
    response = post_batch(http, server, batch, compress=False)
    assert response.status_code == 200
    assert response.json()["accepted"] == 1000


def test_a_zip_bomb_is_413_without_inflating_it(server: RunningServer, http: httpx.Client) -> None:
    # 1 GiB of zeros deflates to about 1 MiB; 200 MiB to about 200 KiB.
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = b"\0" * (1024 * 1024)
    bomb = b"".join(compressor.compress(chunk) for _ in range(200)) + compressor.flush()
    assert len(bomb) < 1024 * 1024
    started = time.monotonic()
    response = _post(http, server, bomb, **{"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert _code(response) == "decompressed_too_large"
    assert time.monotonic() - started < 5.0


def test_a_multi_member_gzip_body_is_inflated_whole(
    server: RunningServer, http: httpx.Client
) -> None:
    text = json.dumps({"batch": [message()]}).encode()
    body = gzip.compress(text[:10]) + gzip.compress(text[10:])
    response = _post(http, server, body, **{"Content-Encoding": "gzip"})
    assert response.json()["accepted"] == 1


def test_other_methods_and_paths_get_json_errors(server: RunningServer, http: httpx.Client) -> None:
    wrong_method = http.get(server.ingest_url)
    assert wrong_method.status_code == 405
    assert _code(wrong_method) == "method_not_allowed"
    missing = http.get(f"{server.url}/nowhere")
    assert missing.status_code == 404
    assert _code(missing) == "not_found"


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    path: Path = tmp_path_factory.mktemp("limited") / "oakdata.db"
    thread, running = start_server(path, rate_limit_per_second=0.5, rate_limit_burst=2)
    yield running
    thread.stop()
    running.storage.close()


def test_a_key_over_its_rate_gets_429_with_retry_after(
    limited_server: RunningServer, http: httpx.Client
) -> None:
    statuses = [post_batch(http, limited_server, [message()]).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused = post_batch(http, limited_server, [message()])
    assert refused.status_code == 429
    assert _code(refused) == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 2
    # Another key has its own bucket.
    other = limited_server.new_key()
    assert post_batch(http, limited_server, [message()], key=other).status_code == 200
