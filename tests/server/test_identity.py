from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from .conftest import ADMIN_TOKEN, RunningServer, message, now_rfc3339, post_batch, timeline

EVERY_ENGINE = True  # storage behaviour: run on every engine (tests/engines.py)

START = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)


def _story(suffix: str) -> list[dict[str, Any]]:
    """A visitor browses anonymously, signs up, gets a customer id, pays, upgrades."""
    anon, user, customer = f"anon-{suffix}", f"user-{suffix}", f"cust-{suffix}"

    def at(minute: int) -> str:
        return now_rfc3339(START + timedelta(minutes=minute))

    return [
        message(distinct_id=anon, event="$pageview", timestamp=at(0)),
        message(
            "identify",
            distinct_id=user,
            timestamp=at(1),
            properties={"$anon_distinct_id": anon, "email": "ada@example.com", "plan": "free"},
        ),
        message(distinct_id=user, event="user_signed_up", timestamp=at(2)),
        message("alias", distinct_id=user, alias=customer, timestamp=at(3)),
        message(distinct_id=customer, event="payment_succeeded", timestamp=at(4)),
        message("identify", distinct_id=customer, timestamp=at(5), properties={"plan": "pro"}),
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
            "properties": {"email": "ada@example.com", "plan": "pro"},
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
