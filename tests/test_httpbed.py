"""The bed's own tests: each misbehaviour does what the SDK tests rely on."""

from __future__ import annotations

import gzip
import http.client
import json
import threading
from urllib.parse import urlsplit

import pytest

from httpbed import (
    CloseWithoutReply,
    Delay,
    HttpBed,
    PartialReply,
    Reply,
    ResetConnection,
    reject_413_when,
)


def _connection(url: str, timeout: float = 10.0) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)


def _post(
    conn: http.client.HTTPConnection, batch: list[dict[str, object]], *, compress: bool = True
) -> http.client.HTTPResponse:
    body = json.dumps({"batch": batch, "sent_at": "2026-01-01T00:00:00.000000Z"}).encode()
    headers = {"Content-Type": "application/json", "Authorization": "Bearer k"}
    if compress:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    conn.request("POST", "/api/oak/ingest", body=body, headers=headers)
    return conn.getresponse()


def test_default_reply_accepts_every_message_and_records_the_gunzipped_batch(bed: HttpBed):
    conn = _connection(bed.url)
    response = _post(conn, [{"uuid": "a"}, {"uuid": "b"}])
    assert response.status == 200
    assert json.loads(response.read()) == {"accepted": 2, "duplicates": 0, "rejected": []}
    (request,) = bed.requests
    assert request.method == "POST"
    assert request.path == "/api/oak/ingest"
    assert request.header("Content-Encoding") == "gzip"
    assert request.header("authorization") == "Bearer k"
    assert request.json["sent_at"] == "2026-01-01T00:00:00.000000Z"
    assert bed.messages == [{"uuid": "a"}, {"uuid": "b"}]
    assert request.delivered


def test_connection_is_kept_alive_between_requests(bed: HttpBed):
    conn = _connection(bed.url)
    for i in range(3):
        response = _post(conn, [{"uuid": str(i)}], compress=False)
        response.read()
        assert response.status == 200
    assert bed.uuids() == ["0", "1", "2"]
    assert len({r.client_port for r in bed.requests}) == 1


def test_script_is_consumed_one_per_request_then_the_default_applies(bed: HttpBed):
    bed.script(Reply(500), Reply(429, headers={"Retry-After": "3"}))
    statuses = []
    for _ in range(3):
        conn = _connection(bed.url)
        response = _post(conn, [{"uuid": "x"}])
        statuses.append((response.status, response.getheader("Retry-After")))
        response.read()
        conn.close()
    assert statuses == [(500, None), (429, "3"), (200, None)]
    assert [r.delivered for r in bed.requests] == [False, False, True]


def test_responder_answers_413_by_rule(bed: HttpBed):
    bed.responder = reject_413_when(max_messages=1)
    conn = _connection(bed.url)
    response = _post(conn, [{"uuid": "a"}, {"uuid": "b"}])
    response.read()
    assert response.status == 413
    response = _post(conn, [{"uuid": "a"}])
    response.read()
    assert response.status == 200


def test_responder_answers_413_for_a_message_bigger_than_the_limit(bed: HttpBed):
    bed.responder = reject_413_when(max_message_bytes=100)
    conn = _connection(bed.url)
    response = _post(conn, [{"uuid": "a", "pad": "x" * 200}])
    response.read()
    assert response.status == 413


def test_close_without_reply_makes_the_client_see_a_disconnect(bed: HttpBed):
    bed.script(CloseWithoutReply())
    conn = _connection(bed.url)
    with pytest.raises(http.client.RemoteDisconnected):
        _post(conn, [{"uuid": "a"}])
    assert bed.wait_for_settled(1)[0].outcome == "closed"
    assert bed.messages == [{"uuid": "a"}]


def test_reset_connection_makes_the_client_see_a_reset(bed: HttpBed):
    bed.script(ResetConnection())
    conn = _connection(bed.url)
    with pytest.raises(ConnectionResetError):
        _post(conn, [{"uuid": "a"}]).read()
    assert bed.wait_for_settled(1)[0].outcome == "reset"


def test_partial_reply_makes_the_client_see_an_incomplete_read(bed: HttpBed):
    bed.script(PartialReply())
    conn = _connection(bed.url)
    response = _post(conn, [{"uuid": "a"}])
    assert response.status == 200
    with pytest.raises(http.client.IncompleteRead):
        response.read()
    assert not bed.requests[0].delivered


def test_delay_makes_a_client_with_a_short_timeout_time_out(bed: HttpBed):
    bed.script(Delay(30))
    conn = _connection(bed.url, timeout=0.2)
    with pytest.raises(TimeoutError):
        _post(conn, [{"uuid": "a"}])


def test_delay_then_replies_as_told(bed: HttpBed):
    bed.script(Delay(0.01, then=Reply(503)))
    response = _post(_connection(bed.url), [{"uuid": "a"}])
    response.read()
    assert response.status == 503


def test_close_cuts_a_delay_short():
    bed = HttpBed()
    bed.script(Delay(600))
    errors: list[BaseException] = []

    def call() -> None:
        try:
            _post(_connection(bed.url, timeout=60), [{"uuid": "a"}]).read()
        except BaseException as exc:  # the bed goes away mid-request
            errors.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    bed.wait_for_requests(1)
    bed.close()
    caller.join(timeout=10)
    assert not caller.is_alive()
    assert bed.requests[0].outcome == "aborted"
    assert errors


def test_wait_for_messages_fails_with_a_clear_message(bed: HttpBed):
    with pytest.raises(AssertionError, match=r"timed out .* 1 message"):
        bed.wait_for_messages(1, timeout=0.05)


def test_refused_url_refuses_connections(refused_url: str):
    with pytest.raises(ConnectionRefusedError):
        _connection(refused_url).connect()
