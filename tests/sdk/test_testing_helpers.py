"""oakdata.testing: users assert on what would have been sent, with no network and no mocks."""

from __future__ import annotations

import threading

from oakdata import OakClient, __version__
from oakdata.testing import MemoryTransport, RecordedRequest

from ._support import SECRET_KEY, dropped_only, new_threads


def test_memory_transport_records_the_messages_sent_after_flush():
    transport = MemoryTransport()
    oak = OakClient("oak_sec_test", transport=transport)
    uuid = oak.capture("user_1", "user_signed_up", {"plan": "pro"})
    oak.identify("user_1", {"email": "a@example.com"})
    assert oak.flush() is True
    assert [m["type"] for m in transport.messages] == ["capture", "identify"]
    assert transport.messages[0]["uuid"] == uuid
    assert transport.messages[0]["properties"]["plan"] == "pro"
    oak.shutdown()


def test_memory_transport_records_requests_with_url_headers_and_parsed_body():
    transport = MemoryTransport()
    oak = OakClient(SECRET_KEY, transport=transport, host="https://ingest.example.com")
    oak.capture("u", "e")
    oak.flush()
    (request,) = transport.requests
    assert isinstance(request, RecordedRequest)
    assert request.url == "https://ingest.example.com/api/oak/ingest"
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["authorization"] == f"Bearer {SECRET_KEY}"
    assert headers["user-agent"] == f"oakdata-python/{__version__}"
    assert isinstance(request.body, dict)
    assert [m["event"] for m in request.body["batch"]] == ["e"]
    assert "sent_at" in request.body
    oak.shutdown()


def test_recorded_requests_do_not_show_the_secret_key_in_their_repr():
    transport = MemoryTransport()
    oak = OakClient(SECRET_KEY, transport=transport)
    oak.capture("u", "e")
    oak.flush()
    assert SECRET_KEY not in repr(transport.requests)
    assert SECRET_KEY not in repr(transport)
    oak.shutdown()


def test_memory_transport_makes_no_network_connection():
    # An unroutable host: only a transport that never touches the network delivers.
    transport = MemoryTransport()
    oak = OakClient("oak_sec_test", transport=transport, host="http://127.0.0.1:9")
    oak.capture("u", "e")
    assert oak.flush(timeout=5) is True
    assert oak.stats().delivered == 1
    oak.shutdown()


def test_memory_transport_with_an_error_status_lets_tests_see_the_failure_path():
    transport = MemoryTransport(status=401)
    oak = OakClient("oak_sec_test", transport=transport)
    oak.capture("u", "e")
    assert oak.flush(timeout=5) is False
    dropped_only(oak.stats(), client_error=1)
    oak.shutdown()


def test_events_filters_capture_messages_by_name():
    transport = MemoryTransport()
    oak = OakClient("oak_sec_test", transport=transport)
    oak.capture("u", "a")
    oak.capture("u", "b")
    oak.identify("u", {})
    oak.flush()
    assert [m["event"] for m in transport.events()] == ["a", "b"]
    assert [m["event"] for m in transport.events("b")] == ["b"]
    oak.shutdown()


def test_clear_forgets_what_was_recorded():
    transport = MemoryTransport()
    oak = OakClient("oak_sec_test", transport=transport)
    oak.capture("u", "a")
    oak.flush()
    transport.clear()
    assert transport.messages == []
    oak.shutdown()


def test_a_client_on_a_memory_transport_shuts_down_its_thread():
    before = set(threading.enumerate())
    transport = MemoryTransport()
    oak = OakClient("oak_sec_test", transport=transport, flush_at=1)
    oak.capture("u", "a")
    assert oak.shutdown(timeout=5) is True
    assert new_threads(before) == set()
