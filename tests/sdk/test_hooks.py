"""before_send and super properties: the app's say over every message, at capture time."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from httpbed import HttpBed
from oakdata import context

from ._support import WAIT_SECONDS, dropped_only


def _arrived(bed: HttpBed, oak: Any) -> dict[str, dict[str, Any]]:
    oak.flush(timeout=WAIT_SECONDS)
    return {m["uuid"]: m for m in bed.messages}


# -- before_send ----------------------------------------------------------------------------


def test_before_send_sees_every_message_type_as_a_plain_dict(bed: HttpBed, make_client):
    seen: list[dict[str, Any]] = []

    def hook(message: dict[str, Any]) -> dict[str, Any]:
        seen.append(message)
        return message

    oak = make_client(before_send=hook)
    uuids = [
        oak.capture("u", "signed_up", {"plan": "pro"}),
        oak.identify("u", {"email": "ada@example.com"}),
        oak.alias("u", "u-old"),
        oak.group_identify("company", "acme", {"seats": 3}),
    ]
    assert [m["type"] for m in seen] == ["capture", "identify", "alias", "group_identify"]
    assert all(type(m) is dict for m in seen)
    assert set(_arrived(bed, oak)) == set(uuids)


def test_what_before_send_changes_is_what_is_sent(bed: HttpBed, make_client):
    def scrub(message: dict[str, Any]) -> dict[str, Any]:
        message["properties"].pop("email", None)
        message["properties"]["scrubbed"] = True
        return message

    oak = make_client(before_send=scrub)
    uuid = oak.identify("u", {"email": "ada@example.com", "plan": "pro"})
    properties = _arrived(bed, oak)[uuid]["properties"]
    assert "email" not in properties
    assert properties["scrubbed"] is True
    assert properties["plan"] == "pro"


def test_a_message_before_send_returns_none_for_is_dropped_and_counted(bed: HttpBed, make_client):
    oak = make_client(before_send=lambda m: None if m.get("event") == "noise" else m)
    kept = oak.capture("u", "signal")
    assert oak.capture("u", "noise") is None
    assert set(_arrived(bed, oak)) == {kept}
    dropped_only(oak.stats(), before_send=1)


def test_a_before_send_that_raises_drops_the_message_logs_once_and_the_app_goes_on(
    bed: HttpBed, make_client, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.WARNING, logger="oakdata")

    def broken(message: dict[str, Any]) -> dict[str, Any]:
        raise KeyError("ada@example.com")  # a scrubber that failed: never send the original

    oak = make_client(before_send=broken)
    for _ in range(5):
        assert oak.capture("u", "signed_up", {"email": "ada@example.com"}) is None
    assert _arrived(bed, oak) == {}
    dropped_only(oak.stats(), before_send_failed=5)
    lines = [r.getMessage() for r in caplog.records if r.name == "oakdata"]
    assert len(lines) == 1
    assert "KeyError" in lines[0]
    assert "ada@example.com" not in lines[0]


@pytest.mark.parametrize(
    "result", [["not", "a", "message"], {"type": "identify", "uuid": "x"}, {"type": "capture"}]
)
def test_a_before_send_that_returns_no_valid_message_drops_it(make_client, result):
    oak = make_client(before_send=lambda m: result)
    assert oak.capture("u", "e") is None
    dropped_only(oak.stats(), before_send_failed=1)


def test_before_send_runs_when_capture_is_called_so_later_changes_to_the_dict_do_not_leak(
    bed: HttpBed, make_client
):
    oak = make_client(before_send=lambda m: m)
    properties = {"step": 1}
    uuid = oak.capture("u", "e", properties)
    properties["step"] = 2
    assert _arrived(bed, oak)[uuid]["properties"]["step"] == 1


# -- super properties --------------------------------------------------------------------------


def test_super_properties_go_under_the_context_and_the_captures_own(bed: HttpBed, make_client):
    oak = make_client(super_properties={"app": "web", "tier": "super", "region": "eu"})
    with context("u", {"tier": "context", "request_id": "r-1"}):
        uuid = oak.capture(event="e", properties={"region": "us"})
    properties = _arrived(bed, oak)[uuid]["properties"]
    assert properties["app"] == "web"  # only the super properties have it
    assert properties["tier"] == "context"  # the context wins over super properties
    assert properties["region"] == "us"  # the capture's own value wins over both
    assert properties["request_id"] == "r-1"


def test_super_properties_change_at_run_time_and_only_for_later_captures(bed: HttpBed, make_client):
    oak = make_client()
    first = oak.capture("u", "e")
    oak.register({"release": "1.2.0", "beta": True})
    second = oak.capture("u", "e")
    oak.unregister("beta")
    third = oak.capture("u", "e")
    arrived = _arrived(bed, oak)
    assert "release" not in arrived[first]["properties"]
    assert arrived[second]["properties"]["beta"] is True
    assert arrived[third]["properties"]["release"] == "1.2.0"
    assert "beta" not in arrived[third]["properties"]
    assert dict(oak.super_properties) == {"release": "1.2.0"}


def test_super_properties_are_a_snapshot_of_what_was_given(bed: HttpBed, make_client):
    given = {"plan": "free"}
    oak = make_client(super_properties=given)
    given["plan"] = "changed later"
    uuid = oak.capture("u", "e")
    assert _arrived(bed, oak)[uuid]["properties"]["plan"] == "free"


def test_super_properties_are_not_person_traits(bed: HttpBed, make_client):
    oak = make_client(super_properties={"app": "web"})
    uuid = oak.identify("u", {"email": "ada@example.com"})
    assert "app" not in _arrived(bed, oak)[uuid]["properties"]
