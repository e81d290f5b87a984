"""Concurrent requests stored together (group_commit.py), and `ingest_many` on every engine:
each request answered as if it had been stored alone, each event stored once."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from oakdata_server.group_commit import GroupCommit
from oakdata_server.storage import (
    IngestRequest,
    IngestResult,
    Storage,
    StorageUnavailable,
    open_storage,
)
from oakdata_server.validation import ValidMessage

from .conftest import RunningServer, message, post_batch, timeline, valid

EVERY_ENGINE = True  # the ingest_many tests below: storage behaviour (tests/engines.py)

NOW = datetime.now(timezone.utc)


def request(*messages: dict[str, Any], trusted: bool = True) -> IngestRequest:
    return IngestRequest(valid(*messages), NOW, trusted)


class Recorder:
    """A store that records the groups it is given and answers each request by its size;
    it refuses any group holding a message of the event `poison`."""

    def __init__(self, error: Exception | None = None) -> None:
        self.groups: list[list[int]] = []
        self.error = error

    def __call__(self, project_id: int, requests: Sequence[IngestRequest]) -> list[IngestResult]:
        self.groups.append([len(r.messages) for r in requests])
        if self.error is not None:
            raise self.error
        if any(m.event == "poison" for r in requests for m in r.messages):
            raise ValueError("the engine cannot take this")
        return [IngestResult(len(r.messages), 0) for r in requests]


def sizes(*counts: int) -> list[IngestRequest]:
    return [
        request(*[message(distinct_id=f"user-{n}") for _ in range(count)])
        for n, count in enumerate(counts)
    ]


async def ingest_all(commit: GroupCommit, requests: list[IngestRequest]) -> list[Any]:
    # Started in one turn of the loop: the first starts a store, the rest queue behind it.
    return await asyncio.gather(*(commit.ingest(1, r) for r in requests), return_exceptions=True)


def test_requests_that_arrive_together_are_stored_in_one_call() -> None:
    store = Recorder()
    results = asyncio.run(ingest_all(GroupCommit(store), sizes(2, 3, 1)))
    assert store.groups == [[2, 3, 1]]
    assert results == [IngestResult(2, 0), IngestResult(3, 0), IngestResult(1, 0)]


def test_a_group_holds_at_most_max_messages_and_keeps_arrival_order() -> None:
    store = Recorder()
    commit = GroupCommit(store, max_messages=4, stores=1)
    asyncio.run(ingest_all(commit, sizes(2, 2, 3, 1, 5)))
    assert store.groups == [[2, 2], [3, 1], [5]]


def test_a_second_group_is_stored_while_the_first_waits_on_the_database() -> None:
    # Each store waits until two are running: with one store at a time this would time out.
    both = threading.Barrier(2, timeout=10)

    def store(project_id: int, requests: Sequence[IngestRequest]) -> list[IngestResult]:
        both.wait()
        return [IngestResult(len(r.messages), 0) for r in requests]

    commit = GroupCommit(store, max_messages=2, stores=2)
    results = asyncio.run(ingest_all(commit, sizes(2, 2)))
    assert results == [IngestResult(2, 0), IngestResult(2, 0)]


def test_a_request_the_engine_refuses_fails_alone() -> None:
    store = Recorder()
    requests = sizes(1, 1)
    requests.insert(1, request(message(event="poison")))
    results = asyncio.run(ingest_all(GroupCommit(store, stores=1), requests))
    assert results[0] == IngestResult(1, 0)
    assert results[2] == IngestResult(1, 0)
    assert isinstance(results[1], ValueError)
    assert store.groups == [[1, 1, 1], [1], [1], [1]]  # the group, then each on its own


def test_an_unavailable_database_answers_every_request_of_the_group_at_once() -> None:
    store = Recorder(StorageUnavailable("down"))
    results = asyncio.run(ingest_all(GroupCommit(store), sizes(1, 2)))
    assert all(isinstance(r, StorageUnavailable) for r in results)
    assert store.groups == [[1, 2]]  # not tried again one by one: each client retries


def test_a_request_whose_caller_gives_up_is_still_stored_and_spares_the_others() -> None:
    store = Recorder()
    commit = GroupCommit(store)

    async def scenario() -> list[Any]:
        waits = [asyncio.ensure_future(commit.ingest(1, r)) for r in sizes(1, 1, 1)]
        await asyncio.sleep(0)  # let each start waiting (a turn of the loop, not a delay)
        waits[1].cancel()
        return await asyncio.gather(*waits, return_exceptions=True)

    results = asyncio.run(scenario())
    assert results[0] == IngestResult(1, 0)
    assert results[2] == IngestResult(1, 0)
    assert isinstance(results[1], asyncio.CancelledError)
    assert store.groups == [[1, 1, 1]]


def test_projects_are_grouped_apart() -> None:
    store = Recorder()
    commit = GroupCommit(store)

    async def scenario() -> None:
        one, two = sizes(1, 2)
        await asyncio.gather(commit.ingest(1, one), commit.ingest(2, two))

    asyncio.run(scenario())
    assert sorted(store.groups) == [[1], [2]]


# ingest_many on every engine


@pytest.fixture
def storage(storage_url: str) -> Iterator[Storage]:
    opened = open_storage(storage_url, create=True)
    yield opened
    opened.close()


def test_ingest_many_answers_each_request_as_if_stored_alone(storage: Storage) -> None:
    project = storage.create_project("default").id
    earlier = message(distinct_id="gm-ada", event="earlier")
    storage.ingest(project, valid(earlier), NOW)
    shared = message(distinct_id="gm-ada", event="shared")
    results = storage.ingest_many(
        project,
        [
            request(message(distinct_id="gm-ada", event="first"), shared),
            request(shared, earlier, message(distinct_id="gm-bob", event="second")),
            request(
                message("identify", distinct_id="gm-ada", properties={"plan": "pro"}),
                message(distinct_id="gm-ada", event="third"),
            ),
            request(),
        ],
    )
    assert [(r.accepted, r.duplicates) for r in results] == [(2, 0), (1, 2), (2, 0), (0, 0)]
    ada = storage.timeline(project, "gm-ada", 100, None)
    assert ada is not None
    assert sorted(e.event for e in ada.events) == ["earlier", "first", "shared", "third"]
    assert ada.properties == {"plan": "pro"}
    bob = storage.timeline(project, "gm-bob", 100, None)
    assert bob is not None
    assert [e.event for e in bob.events] == ["second"]


def test_a_public_keys_refusals_keep_their_positions_in_a_group(storage: Storage) -> None:
    project = storage.create_project("default").id
    storage.ingest(project, valid(message("identify", distinct_id="gm-known")), NOW)
    storage.ingest(project, valid(message("identify", distinct_id="gm-other")), NOW)
    link = message("alias", distinct_id="gm-known", alias="gm-other")
    results = storage.ingest_many(
        project,
        [
            request(message(distinct_id="gm-x")),
            request(message(distinct_id="gm-y"), link, trusted=False),
        ],
    )
    assert results[0] == IngestResult(1, 0)
    assert results[1].accepted == 1
    assert [p for p, _ in results[1].refused] == [1]


# through HTTP, with real concurrency


def test_concurrent_requests_each_store_their_events_once(
    server: RunningServer, http: httpx.Client
) -> None:
    # 12 clients at once, each sending its own 50 events and 10 of a shared 10, as
    # retries racing their originals would: every event once, every answer exact.
    shared = [message(distinct_id="gm-crowd", event="shared") for _ in range(10)]
    answers: list[dict[str, Any]] = []
    start = threading.Barrier(12)

    def client(n: int) -> None:
        own = [message(distinct_id="gm-crowd", event=f"client-{n}") for _ in range(50)]
        with httpx.Client(timeout=30.0) as mine:
            start.wait(timeout=30)
            response = post_batch(mine, server, own + shared)
        assert response.status_code == 200, response.text
        answers.append(response.json())

    threads = [threading.Thread(target=client, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(answers) == 12
    assert sum(a["accepted"] for a in answers) == 12 * 50 + 10
    assert sum(a["duplicates"] for a in answers) == 11 * 10
    events = timeline(http, server, "gm-crowd", limit=1000).json()["events"]
    assert len(events) == 610
    assert len({e["uuid"] for e in events}) == 610


def test_groups_racing_over_the_same_uuids_both_finish(storage: Storage) -> None:
    # A retry racing its original, in two groups stored at once that hold the same events
    # in opposite orders: each event stored once, and neither group fails (on PostgreSQL,
    # claims taken in the order given would deadlock).
    project = storage.create_project("default").id
    # Persons made first: a group making new ones takes the project's lock and the two
    # groups would wait for each other's end without racing.
    storage.ingest(project, valid(*[message(distinct_id=f"gm-race-{n}") for n in range(50)]), NOW)
    events = valid(*[message(distinct_id=f"gm-race-{n % 50}") for n in range(20_000)])
    results: list[IngestResult] = []
    start = threading.Barrier(2)

    def store(order: list[ValidMessage]) -> None:
        start.wait(timeout=30)
        results.extend(storage.ingest_many(project, [IngestRequest(order, NOW)]))

    threads = [threading.Thread(target=store, args=(order,)) for order in (events, events[::-1])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == 2
    assert sum(r.accepted for r in results) == 20_000
    assert sum(r.duplicates for r in results) == 20_000
