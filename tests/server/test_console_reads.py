"""What the console reads from storage: the latest events and counts per time bucket."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import httpx

from .conftest import RunningServer, message, now_rfc3339, post_batch

EVERY_ENGINE = True  # storage behaviour: run on every engine (tests/engines.py)


def _project_id(server: RunningServer) -> int:
    project = server.storage.get_project("default")
    assert project is not None
    return project.id


def test_recent_events_are_newest_first_after_an_id_and_by_name(
    server: RunningServer, http: httpx.Client
) -> None:
    tag = uuid.uuid4().hex[:8]
    names = [f"seen-{tag}", f"other-{tag}", f"seen-{tag}", f"seen-{tag}"]
    batch = [
        message(event=name, distinct_id=f"reader-{tag}", properties={"n": n})
        for n, name in enumerate(names)
    ]
    assert post_batch(http, server, batch).json()["accepted"] == 4
    project = _project_id(server)

    newest = server.storage.recent_events(project, None, 0, 4)
    assert [e.uuid for e in newest] == [m["uuid"] for m in reversed(batch)]
    assert [e.properties["n"] for e in newest] == [3, 2, 1, 0]
    assert {e.distinct_id for e in newest} == {f"reader-{tag}"}
    assert newest[0].id > newest[1].id > newest[2].id > newest[3].id

    named = server.storage.recent_events(project, f"seen-{tag}", 0, 2)
    assert [e.uuid for e in named] == [batch[3]["uuid"], batch[2]["uuid"]]

    # What the live page polls for: only the rows after the newest it has.
    later = message(event=f"seen-{tag}", distinct_id=f"reader-{tag}")
    post_batch(http, server, [later])
    fresh = server.storage.recent_events(project, None, newest[0].id, 10)
    assert [e.uuid for e in fresh] == [later["uuid"]]
    assert server.storage.recent_events(project, None, fresh[0].id, 10) == []


def test_event_counts_fall_in_buckets_from_since(server: RunningServer, http: httpx.Client) -> None:
    tag = uuid.uuid4().hex[:8]
    since = datetime.now(timezone.utc).replace(microsecond=250000) - timedelta(hours=1)
    at = [
        (f"a-{tag}", -5),  # before `since`: not counted
        (f"a-{tag}", 1),
        (f"a-{tag}", 59.5),
        (f"b-{tag}", 60.5),
        (f"a-{tag}", 130),
        (f"b-{tag}", 179),
    ]
    batch = [
        message(
            event=name,
            distinct_id=f"counted-{tag}",
            timestamp=now_rfc3339(since + timedelta(seconds=offset)),
        )
        for name, offset in at
    ]
    assert post_batch(http, server, batch).json()["accepted"] == len(at)

    counts = server.storage.event_counts(_project_id(server), now_rfc3339(since), 60)
    mine = sorted((c.event, c.bucket, c.count) for c in counts if c.event.endswith(tag))
    assert mine == [(f"a-{tag}", 0, 2), (f"a-{tag}", 2, 1), (f"b-{tag}", 1, 1), (f"b-{tag}", 2, 1)]
