"""What is sent is fixed when the call returns: later mutation of the caller's data is ignored."""

from __future__ import annotations

from httpbed import HttpBed

from ._support import WAIT_SECONDS


def test_mutating_the_properties_dict_after_capture_changes_nothing_sent(bed: HttpBed, oak):
    properties = {"plan": "pro", "nested": {"seats": [1, 2]}}
    oak.capture("u", "e", properties)
    properties["plan"] = "free"
    properties["nested"]["seats"].append(3)
    properties["added"] = True
    del properties["nested"]
    assert oak.flush(timeout=WAIT_SECONDS) is True
    (message,) = bed.messages
    assert message["properties"]["plan"] == "pro"
    assert message["properties"]["nested"] == {"seats": [1, 2]}
    assert "added" not in message["properties"]


def test_mutating_groups_after_capture_changes_nothing_sent(bed: HttpBed, oak):
    groups = {"company": "acme"}
    oak.capture("u", "e", groups=groups)
    groups["company"] = "other"
    groups["team"] = "x"
    oak.flush(timeout=WAIT_SECONDS)
    assert bed.messages[0]["groups"] == {"company": "acme"}


def test_mutating_identify_and_group_identify_properties_changes_nothing_sent(bed: HttpBed, oak):
    traits = {"email": "a@example.com"}
    group = {"name": "Acme"}
    oak.identify("u", traits)
    oak.group_identify("company", "acme", group)
    traits["email"] = "changed"
    group["name"] = "changed"
    oak.flush(timeout=WAIT_SECONDS)
    assert [m["properties"].get("email", m["properties"].get("name")) for m in bed.messages] == [
        "a@example.com",
        "Acme",
    ]


def test_a_mutable_object_inside_properties_is_sent_as_it_was_at_capture(bed: HttpBed, oak):
    items = [1, 2]
    oak.capture("u", "e", {"items": items, "set": {1}})
    items.clear()
    oak.flush(timeout=WAIT_SECONDS)
    assert bed.messages[0]["properties"]["items"] == [1, 2]


def test_the_callers_properties_dict_is_not_modified_by_capture(oak):
    properties = {"plan": "pro"}
    oak.capture("u", "e", properties)
    assert properties == {"plan": "pro"}
