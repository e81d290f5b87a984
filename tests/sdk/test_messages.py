"""Each method's wire format, as the server receives it."""

from __future__ import annotations

import datetime as dt
import os
import re
import uuid as uuidlib

import pytest

import oakdata
from httpbed import HttpBed
from oakdata import _ids

from ._support import SECRET_KEY, WAIT_SECONDS, Client, dropped_only

RFC3339_UTC_MICROS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
CANONICAL_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _parse_z(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)


def _sent(bed: HttpBed, oak: Client) -> list[dict]:
    assert oak.flush(timeout=WAIT_SECONDS) is True
    return bed.messages


def test_capture_sends_type_event_distinct_id_properties_and_groups(bed: HttpBed, oak):
    returned = oak.capture(
        "user_42", "plan_upgraded", {"plan": "pro", "mrr": 49}, groups={"company": "acme-inc"}
    )
    (message,) = _sent(bed, oak)
    assert message["type"] == "capture"
    assert message["uuid"] == returned
    assert message["event"] == "plan_upgraded"
    assert message["distinct_id"] == "user_42"
    assert message["properties"]["plan"] == "pro"
    assert message["properties"]["mrr"] == 49
    assert message["groups"] == {"company": "acme-inc"}


def test_capture_adds_lib_and_lib_version_to_properties(bed: HttpBed, oak):
    oak.capture("u", "e", {"a": 1})
    (message,) = _sent(bed, oak)
    assert message["properties"] == {
        "a": 1,
        "$lib": "oakdata-python",
        "$lib_version": oakdata.__version__,
    }


def test_capture_without_properties_sends_only_the_library_properties(bed: HttpBed, oak):
    oak.capture("u", "e")
    (message,) = _sent(bed, oak)
    assert message["properties"] == {"$lib": "oakdata-python", "$lib_version": oakdata.__version__}


def test_the_returned_uuid_is_a_lowercase_hyphenated_uuidv7(bed: HttpBed, oak):
    returned = oak.capture("u", "e")
    assert CANONICAL_UUID.match(returned)
    parsed = uuidlib.UUID(returned)
    assert parsed.version == 7
    assert parsed.variant == uuidlib.RFC_4122


def test_every_event_gets_a_different_uuid(oak):
    uuids = [oak.capture("u", "e") for _ in range(1000)]
    assert len(set(uuids)) == 1000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_draws_random_bits_of_its_own(oak):
    oak.capture("u", "e")  # the parent has random bits drawn and pooled
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report the id tail it would use next, then leave at once
        os.write(write_end, _ids._random_tail().encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        childs = pipe.read().decode()
    os.waitpid(pid, 0)
    assert len(childs) == len("-vxxx-xxxxxxxxxxxx")
    assert childs != _ids._random_tail()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_never_makes_the_id_its_parent_makes_next(oak, monkeypatch):
    # One millisecond for both: without the fork hook's reseed the child would go on from
    # the parent's cached tail and counter, and make the very id the parent makes next.
    def clock() -> int:
        return 1_800_000_000_123_456_789

    monkeypatch.setattr(_ids, "time_ns", clock)
    parents_first = oak.capture("u", "e")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id, then leave at once
        os.write(write_end, _ids.new_ids()[0].encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        childs = pipe.read().decode()
    os.waitpid(pid, 0)
    parents_next = _ids.new_ids()[0]
    assert childs[:13] == parents_first[:13] == parents_next[:13]  # the same millisecond
    assert childs[18:] != parents_first[18:]
    assert childs != parents_next


def test_uuidv7_carries_the_capture_time_in_its_first_48_bits(oak):
    before = dt.datetime.now(dt.timezone.utc)
    returned = oak.capture("u", "e")
    after = dt.datetime.now(dt.timezone.utc)
    millis = int(returned.replace("-", "")[:12], 16)
    stamped = dt.datetime.fromtimestamp(millis / 1000, dt.timezone.utc)
    # Generous slack: the point is the time, not the clock's resolution or a
    # monotonic-counter implementation nudging it forward.
    assert before - dt.timedelta(seconds=1) <= stamped <= after + dt.timedelta(seconds=1)


def test_an_explicit_uuid_is_kept(bed: HttpBed, oak):
    mine = "0193c7a2-5b1e-7c3d-9a4f-2e8b6d1c0f3a"
    assert oak.capture("u", "e", uuid=mine) == mine
    assert [m["uuid"] for m in _sent(bed, oak)] == [mine]


def test_an_invalid_explicit_uuid_drops_the_event_as_invalid_input(oak):
    assert oak.capture("u", "e", uuid="not-a-uuid") is None
    dropped_only(oak.stats(), invalid_input=1)


def test_the_default_timestamp_is_now_in_rfc3339_utc_with_microseconds(bed: HttpBed, oak):
    before = dt.datetime.now(dt.timezone.utc)
    oak.capture("u", "e")
    after = dt.datetime.now(dt.timezone.utc)
    (message,) = _sent(bed, oak)
    assert RFC3339_UTC_MICROS.match(message["timestamp"]), message["timestamp"]
    slack = dt.timedelta(seconds=1)
    assert before - slack <= _parse_z(message["timestamp"]) <= after + slack


def test_an_aware_timestamp_is_converted_to_utc(bed: HttpBed, oak):
    plus_two = dt.timezone(dt.timedelta(hours=2))
    oak.capture("u", "e", timestamp=dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=plus_two))
    (message,) = _sent(bed, oak)
    assert message["timestamp"] == "2026-01-02T01:04:05.000006Z"


def test_a_naive_timestamp_is_taken_as_utc(bed: HttpBed, oak):
    oak.capture("u", "e", timestamp=dt.datetime(2026, 1, 2, 3, 4, 5))
    (message,) = _sent(bed, oak)
    assert message["timestamp"] == "2026-01-02T03:04:05.000000Z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-02T03:04:05+01:00", "2026-01-02T02:04:05.000000Z"),
        ("2026-01-02T03:04:05.123Z", "2026-01-02T03:04:05.123000Z"),
        ("2026-01-02T03:04:05.123456Z", "2026-01-02T03:04:05.123456Z"),
    ],
)
def test_an_iso_8601_string_timestamp_is_normalized_to_utc(
    bed: HttpBed, oak, text: str, expected: str
):
    oak.capture("u", "e", timestamp=text)
    (message,) = _sent(bed, oak)
    assert message["timestamp"] == expected


@pytest.mark.parametrize("timestamp", ["yesterday", "2026-13-40T00:00:00Z", 12.5, object()])
def test_an_invalid_timestamp_drops_the_event_as_invalid_input(oak, timestamp):
    assert oak.capture("u", "e", timestamp=timestamp) is None
    dropped_only(oak.stats(), invalid_input=1)


def test_an_int_distinct_id_is_sent_as_a_string(bed: HttpBed, oak):
    oak.capture(42, "e")
    oak.identify(7, {"a": 1})
    assert [m["distinct_id"] for m in _sent(bed, oak)] == ["42", "7"]


def test_capture_returns_none_and_counts_invalid_input_when_distinct_id_is_empty(oak):
    assert oak.capture("", "e") is None
    stats = oak.stats()
    assert stats.captured == 1
    dropped_only(stats, invalid_input=1)


@pytest.mark.parametrize(
    ("distinct_id", "event"),
    [
        (None, "e"),
        ("u", ""),
        ("u", None),
        ("x" * 201, "e"),
        ("u", "x" * 201),
        (1.5, "e"),
        (" \t", "e"),
        ("u", " \t"),
        ("u", ["an", "unhashable", "name"]),
    ],
)
def test_capture_drops_invalid_ids_and_event_names_as_invalid_input(oak, distinct_id, event):
    for _ in range(2):  # the second time too: nothing invalid is remembered as checked
        assert oak.capture(distinct_id, event) is None
    dropped_only(oak.stats(), invalid_input=2)


def test_ids_of_exactly_200_characters_are_accepted(bed: HttpBed, oak):
    assert oak.capture("u" * 200, "e" * 200)
    (message,) = _sent(bed, oak)
    assert len(message["distinct_id"]) == 200


def test_properties_that_are_not_a_mapping_drop_the_event_as_invalid_input(oak):
    assert oak.capture("u", "e", ["not", "a", "mapping"]) is None
    dropped_only(oak.stats(), invalid_input=1)


def test_groups_with_an_empty_key_drop_the_event_as_invalid_input(oak):
    assert oak.capture("u", "e", groups={"company": ""}) is None
    dropped_only(oak.stats(), invalid_input=1)


def test_an_event_larger_than_256_kib_is_dropped_as_too_large(bed: HttpBed, oak):
    assert oak.capture("u", "big", {"blob": "x" * (257 * 1024)}) is None
    kept = oak.capture("u", "small")
    dropped_only(oak.stats(), too_large=1)
    assert oak.flush(timeout=WAIT_SECONDS) is False  # one of the two was lost
    assert bed.uuids() == [kept]


def test_identify_sends_distinct_id_and_properties(bed: HttpBed, oak):
    returned = oak.identify("user_42", {"email": "ada@example.com"})
    (message,) = _sent(bed, oak)
    assert message["type"] == "identify"
    assert message["uuid"] == returned
    assert message["distinct_id"] == "user_42"
    assert message["properties"]["email"] == "ada@example.com"
    assert RFC3339_UTC_MICROS.match(message["timestamp"])


def test_alias_sends_distinct_id_and_alias(bed: HttpBed, oak):
    returned = oak.alias("user_42", "anon-7f3e")
    (message,) = _sent(bed, oak)
    assert message["type"] == "alias"
    assert message["uuid"] == returned
    assert message["distinct_id"] == "user_42"
    assert message["alias"] == "anon-7f3e"
    assert RFC3339_UTC_MICROS.match(message["timestamp"])


def test_group_identify_sends_group_type_group_key_and_properties(bed: HttpBed, oak):
    returned = oak.group_identify("company", "acme-inc", {"name": "Acme Inc."})
    (message,) = _sent(bed, oak)
    assert message["type"] == "group_identify"
    assert message["uuid"] == returned
    assert message["group_type"] == "company"
    assert message["group_key"] == "acme-inc"
    assert message["properties"]["name"] == "Acme Inc."
    assert RFC3339_UTC_MICROS.match(message["timestamp"])


@pytest.mark.parametrize(
    "call",
    [
        lambda oak: oak.identify("", {}),
        lambda oak: oak.alias("u", ""),
        lambda oak: oak.alias(None, "v"),
        lambda oak: oak.group_identify("", "k"),
        lambda oak: oak.group_identify("company", None),
        lambda oak: oak.identify("u", "not a mapping"),
    ],
)
def test_other_methods_drop_invalid_arguments_as_invalid_input(oak, call):
    assert call(oak) is None
    dropped_only(oak.stats(), invalid_input=1)


def test_the_envelope_carries_the_batch_and_a_sent_at(bed: HttpBed, oak):
    before = dt.datetime.now(dt.timezone.utc)
    oak.capture("u", "e")
    oak.flush(timeout=WAIT_SECONDS)
    (request,) = bed.requests
    assert set(request.json) >= {"batch", "sent_at"}
    assert RFC3339_UTC_MICROS.match(request.json["sent_at"])
    assert _parse_z(request.json["sent_at"]) >= before - dt.timedelta(seconds=1)


def test_requests_carry_the_authorization_content_type_and_user_agent_headers(bed: HttpBed, oak):
    oak.capture("u", "e")
    oak.flush(timeout=WAIT_SECONDS)
    (request,) = bed.requests
    assert request.method == "POST"
    assert request.path == "/api/oak/ingest"
    assert request.header("Authorization") == f"Bearer {SECRET_KEY}"
    assert request.header("Content-Type").split(";")[0] == "application/json"
    assert request.header("User-Agent") == f"oakdata-python/{oakdata.__version__}"


def test_messages_of_one_request_keep_their_capture_order(bed: HttpBed, make_client):
    oak = make_client(flush_at=100)
    uuids = [oak.capture("u", f"e{i}") for i in range(10)]
    oak.flush(timeout=WAIT_SECONDS)
    assert bed.uuids() == uuids
