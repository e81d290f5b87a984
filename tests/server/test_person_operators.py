"""$set, $set_once and $unset: what a person ends up with, and who may change it."""

from __future__ import annotations

import itertools
import random
from typing import Any

import httpx
import pytest

from oakdata_server.storage.versioned import (
    PersonDocument,
    merge_persons,
    person_plain,
    person_update,
)

from .conftest import ALLOWED_ORIGIN, RunningServer, message, post_batch, timeline

EVERY_ENGINE = True  # storage behaviour: run on every engine (tests/engines.py)

LOW_UUID = "00000000-0000-7000-8000-000000000001"
HIGH_UUID = "ffffffff-ffff-7fff-bfff-ffffffffffff"
AT = "2026-11-01T12:00:00.000000Z"


def _properties(http: httpx.Client, server: RunningServer, distinct_id: str) -> dict[str, Any]:
    response = timeline(http, server, distinct_id)
    assert response.status_code == 200, response.text
    properties: dict[str, Any] = response.json()["properties"]
    return properties


def _identify(distinct_id: str, properties: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return message("identify", distinct_id=distinct_id, properties=properties, **fields)


@pytest.mark.parametrize("low_first", [True, False])
def test_a_timestamp_tie_is_broken_by_uuid_whatever_arrives_first(
    server: RunningServer, http: httpx.Client, low_first: bool
) -> None:
    person = f"tie-{low_first}"
    # Each case needs its own uuids: the server de-duplicates by uuid within the project.
    low_uuid = LOW_UUID[:-1] + ("2" if low_first else "3")
    high_uuid = HIGH_UUID[:-1] + ("e" if low_first else "d")
    low = _identify(
        person,
        {"$set_once": {"source": "low"}, "$set": {"plan": "low"}},
        uuid=low_uuid,
        timestamp=AT,
    )
    high = _identify(
        person,
        {"$set_once": {"source": "high"}, "$set": {"plan": "high"}},
        uuid=high_uuid,
        timestamp=AT,
    )
    post_batch(http, server, [low, high] if low_first else [high, low])
    # $set_once keeps the earliest, the smaller uuid first; $set the latest, the larger uuid.
    assert _properties(http, server, person) == {"plan": "high", "source": "low"}


def test_the_operators_are_never_stored_as_traits(
    server: RunningServer, http: httpx.Client
) -> None:
    body = post_batch(
        http,
        server,
        [_identify("no-literal", {"$set": {"a": 1}, "$set_once": {"b": 2}, "$unset": ["c"]})],
    ).json()
    assert body["accepted"] == 1
    assert _properties(http, server, "no-literal") == {"a": 1, "b": 2}


@pytest.mark.parametrize(
    ("properties", "reason"),
    [
        ({"$set": ["plan"]}, "properties.$set: must be an object"),
        ({"$set_once": "x"}, "properties.$set_once: must be an object"),
        ({"$unset": "plan"}, "properties.$unset: must be an array of property names"),
        ({"$unset": ["plan", 3]}, "properties.$unset: must be an array of property names"),
        ({"$set": {"$unset": ["plan"]}}, "properties.$set: $set, $set_once, $unset are not"),
    ],
)
def test_a_malformed_operator_is_rejected_by_index(
    server: RunningServer, http: httpx.Client, properties: dict[str, Any], reason: str
) -> None:
    for bad in (_identify("malformed", properties), message(properties=properties)):
        body = post_batch(http, server, [message(), bad]).json()
        assert body["accepted"] == 1
        assert [r["index"] for r in body["rejected"]] == [1]
        assert body["rejected"][0]["reason"].startswith(reason)


def test_a_capture_updates_its_person_and_keeps_its_own_properties(
    server: RunningServer, http: httpx.Client
) -> None:
    event = message(
        distinct_id="shopper",
        event="checkout",
        properties={"total": 12, "$set": {"last_order": 12}, "$set_once": {"first_order": 12}},
    )
    later = message(
        distinct_id="shopper",
        event="checkout",
        properties={"$set": {"last_order": 30}, "$set_once": {"first_order": 30}},
    )
    later["timestamp"] = later["timestamp"].replace("Z", "") + "+00:00"  # any offset will do
    post_batch(http, server, [later, event])
    view = timeline(http, server, "shopper").json()
    assert view["properties"] == {"first_order": 12, "last_order": 30}
    assert view["events"][0]["properties"] == event["properties"]


def test_a_public_key_cannot_unset_or_set_once_over_a_secret_keys_property(
    server: RunningServer, http: httpx.Client
) -> None:
    post_batch(http, server, [_identify("billed", {"plan": "pro"})])
    browser = [
        _identify("billed", {"$unset": ["plan"], "$set_once": {"plan": "free"}}),
        _identify("billed", {"theme": "dark", "$set_once": {"locale": "fr"}}),
    ]
    answer = post_batch(http, server, browser, key=server.public_key, origin=ALLOWED_ORIGIN)
    assert answer.json()["accepted"] == 2
    assert _properties(http, server, "billed") == {"locale": "fr", "plan": "pro", "theme": "dark"}
    # The browser may remove what the browser set.
    mine = [_identify("billed", {"$unset": ["theme"]})]
    post_batch(http, server, mine, key=server.public_key, origin=ALLOWED_ORIGIN)
    assert _properties(http, server, "billed") == {"locale": "fr", "plan": "pro"}


def test_a_secret_keys_unset_is_final_for_a_public_key(
    server: RunningServer, http: httpx.Client
) -> None:
    post_batch(http, server, [_identify("removed", {"$unset": ["coupon"]})])
    later = [_identify("removed", {"coupon": "FREE", "$set_once": {"coupon": "FREE"}})]
    post_batch(http, server, later, key=server.public_key, origin=ALLOWED_ORIGIN)
    assert "coupon" not in _properties(http, server, "removed")


# The rules themselves, engine-neutral: whatever order the changes arrive in, and however the
# persons holding them are merged, a person ends up with the same properties.

_NAMES = ("a", "b", "c")
# One message's changes: ($set, $set_once, $unset, timestamp, uuid, trusted).
Change = tuple[dict[str, str], dict[str, str], list[str], str, str, bool]


def _random_change(rng: random.Random, number: int) -> Change:
    def some_names() -> list[str]:
        return rng.sample(_NAMES, rng.randint(0, 2))

    return (
        {name: f"set{number}" for name in some_names()},
        {name: f"once{number}" for name in some_names()},
        some_names(),
        f"2026-11-01T12:00:0{rng.randint(0, 3)}.000000Z",  # ties on purpose
        f"{number:08d}-0000-7000-8000-000000000000",
        rng.random() < 0.7,
    )


def _fold(changes: list[Change] | tuple[Change, ...]) -> PersonDocument:
    document: PersonDocument = {}
    for change in changes:
        document = merge_persons(document, person_update(*change))
    return document


def test_the_rules_do_not_depend_on_arrival_order_or_how_persons_merge() -> None:
    rng = random.Random(13)
    for _ in range(200):
        changes = [_random_change(rng, number) for number in range(5)]
        expected = person_plain(_fold(changes))
        for order in itertools.permutations(changes):
            assert person_plain(_fold(order)) == expected
        split = rng.randint(0, 5)
        left, right = _fold(changes[:split]), _fold(changes[split:])
        assert person_plain(merge_persons(left, right)) == expected
        assert person_plain(merge_persons(right, left)) == expected
        assert person_plain(merge_persons(_fold(changes), left)) == expected  # twice is once


def test_the_rules_match_applying_trusted_changes_in_time_order() -> None:
    """Without untrusted changes and with no $set_once on both sides of an $unset, the result
    is what applying each change in time order gives (docs/server.md names the exception)."""
    rng = random.Random(15)
    checked = 0
    for _ in range(2000):
        changes = [_random_change(rng, number) for number in range(4)]
        in_order = sorted(changes, key=lambda change: (change[3], change[4]))
        if not all(change[5] for change in changes) or _straddles(in_order):
            continue
        assert person_plain(_fold(changes)) == _replay(in_order)
        checked += 1
    assert checked > 100


def _straddles(in_order: list[Change]) -> bool:
    """Whether some name has a $set_once before its last $unset and another after it."""
    for name in _NAMES:
        kinds = "".join(
            ("o" if name in onces else "") + ("u" if name in unsets else "")
            for _, onces, unsets, *_ in in_order
        )
        before, _, after = kinds.rpartition("u")
        if "o" in before and "o" in after:
            return True
    return False


def _replay(in_order: list[Change]) -> dict[str, Any]:
    person: dict[str, Any] = {}
    for sets, onces, unsets, *_ in in_order:  # within one message: $set_once, $set, $unset
        for name, value in onces.items():
            person.setdefault(name, value)
        person.update(sets)
        for name in unsets:
            person.pop(name, None)
    return dict(sorted(person.items()))
