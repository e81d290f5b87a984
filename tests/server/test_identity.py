from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from .conftest import ADMIN_TOKEN, RunningServer, message, now_rfc3339, post_batch, timeline

EVERY_ENGINE = True  # storage behaviour: run on every engine (tests/engines.py)

START = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)


def _story(suffix: str) -> list[dict[str, Any]]:
    """A visitor browses anonymously, signs up, gets a customer id, pays, upgrades.

    Person properties change along the way with every operator: $set_once three times
    (the earliest value stays), an $unset older than the $set it names (the $set stays) and one
    newer than the $set it names (the property goes), from identify and from captures.
    """
    anon, user, customer = f"anon-{suffix}", f"user-{suffix}", f"cust-{suffix}"

    def at(minute: int) -> str:
        return now_rfc3339(START + timedelta(minutes=minute))

    def capture(distinct_id: str, event: str, minute: int, person: Any) -> dict[str, Any]:
        return message(
            distinct_id=distinct_id,
            event=event,
            timestamp=at(minute),
            properties={"$lib": "tests", **person},
        )

    return [
        capture(
            anon,
            "$pageview",
            0,
            {
                "$set_once": {"first_seen": "minute 0", "referrer": "search"},
                "$set": {"trial": "yes"},
            },
        ),
        message(
            "identify",
            distinct_id=user,
            timestamp=at(1),
            properties={
                "$anon_distinct_id": anon,
                "email": "ada@example.com",
                "plan": "free",
                "$set_once": {"first_seen": "minute 1"},
                "$unset": ["nickname"],
            },
        ),
        capture(user, "user_signed_up", 2, {"$set_once": {"first_seen": "minute 2"}}),
        message("alias", distinct_id=user, alias=customer, timestamp=at(3)),
        capture(customer, "payment_succeeded", 4, {"$set": {"trial": "converted"}}),
        message(
            "identify",
            distinct_id=customer,
            timestamp=at(5),
            properties={"plan": "pro", "$set": {"nickname": "ada"}, "$unset": ["trial"]},
        ),
    ]


def _view(http: httpx.Client, server: RunningServer, distinct_id: str) -> dict[str, Any]:
    body: dict[str, Any] = timeline(http, server, distinct_id).json()
    return {
        "ids": body["distinct_ids"],
        "properties": body["properties"],
        "events": [(e["event"], e["distinct_id"]) for e in body["events"]],
    }


def test_identity_merges_give_one_timeline_whatever_order_messages_arrive_in(
    server: RunningServer, http: httpx.Client
) -> None:
    orders = list(itertools.permutations(range(6)))
    # Many independent stories share a request; within each, arrival order is the permutation.
    for start in range(0, len(orders), 60):
        batch = [
            _story(f"perm{number}")[i]
            for number in range(start, min(start + 60, len(orders)))
            for i in orders[number]
        ]
        assert post_batch(http, server, batch).json()["accepted"] == len(batch)
    for number, order in enumerate(orders):
        suffix = f"perm{number}"
        # The three ids are listed as one person's, so the timeline is the same from each.
        assert _view(http, server, f"user-{suffix}") == {
            "ids": sorted([f"anon-{suffix}", f"cust-{suffix}", f"user-{suffix}"]),
            "properties": {
                "email": "ada@example.com",
                "first_seen": "minute 0",
                "nickname": "ada",
                "plan": "pro",
                "referrer": "search",
            },
            "events": [
                ("$pageview", f"anon-{suffix}"),
                ("user_signed_up", f"user-{suffix}"),
                ("payment_succeeded", f"cust-{suffix}"),
            ],
        }, order


def test_the_same_story_in_separate_requests_in_reverse_order_merges_too(
    server: RunningServer, http: httpx.Client
) -> None:
    for one in reversed(_story("separate")):
        assert post_batch(http, server, [one]).json()["accepted"] == 1
    assert _view(http, server, "anon-separate") == _view(http, server, "cust-separate")
    assert len(_view(http, server, "user-separate")["events"]) == 3


def test_aliasing_two_long_histories_merges_both(server: RunningServer, http: httpx.Client) -> None:
    post_batch(http, server, [message(distinct_id="left", event=f"l{i}") for i in range(3)])
    post_batch(http, server, [message(distinct_id="right", event=f"r{i}") for i in range(3)])
    post_batch(http, server, [message("alias", distinct_id="right", alias="left")])
    assert len(_view(http, server, "left")["events"]) == 6


def test_group_identify_sets_group_properties_and_captures_are_found_by_group(
    server: RunningServer, http: httpx.Client
) -> None:
    post_batch(
        http,
        server,
        [
            message(
                "group_identify",
                group_type="company",
                group_key="oak-inc",
                properties={"name": "Oak Inc.", "seats": 10},
            ),
            message(distinct_id="member", event="report_viewed", groups={"company": "oak-inc"}),
            message(distinct_id="outsider", event="report_viewed", groups={"company": "elm-ltd"}),
            message(
                "group_identify",
                group_type="company",
                group_key="oak-inc",
                properties={"seats": 25},
            ),
        ],
    )
    response = http.get(
        f"{server.url}/api/oak/groups/company/oak-inc",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["properties"] == {"name": "Oak Inc.", "seats": 25}
    assert [(e["distinct_id"], e["groups"]) for e in body["events"]] == [
        ("member", {"company": "oak-inc"})
    ]
