"""What only the ClickHouse events engine needs: its literals, and reads that collapse the
rows a failed PostgreSQL commit can leave twice in ClickHouse (storage/clickhouse.py)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from engines import engine_url, query

from .conftest import ADMIN_TOKEN, RunningServer, message, post_batch, start_server


@pytest.fixture(scope="module")
def clickhouse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with engine_url("clickhouse", tmp_path_factory.mktemp("clickhouse")) as url:
        thread, running = start_server(url)
        with httpx.Client() as http:  # one event, so that `FROM events LIMIT 1` has a row
            post_batch(http, running, [message(distinct_id="first")])
        yield running
        thread.stop()
        running.storage.close()


@pytest.mark.parametrize(
    "text",
    ["plain", "it's", "back\\slash", "nul\x00 tab\t nl\n", "\x7f\x01", "é😀\u2028", "'); DROP"],
)
def test_every_string_survives_a_literal_round_trip(
    clickhouse_server: RunningServer, text: str
) -> None:
    from oakdata_server.storage.clickhouse import literal

    # FROM events sends the statement to ClickHouse (tests/engines.py).
    sql = f"SELECT {literal(text)} AS s FROM events LIMIT 1"
    assert query(clickhouse_server.storage_url, sql) == [(text,)]


def test_rows_written_twice_are_read_once_on_every_page(
    clickhouse_server: RunningServer,
) -> None:
    with httpx.Client(timeout=30.0) as http:
        batch = [
            message(distinct_id="twice", event=f"e{i}", groups={"team": "t"}) for i in range(9)
        ]
        assert post_batch(http, clickhouse_server, batch).json()["accepted"] == 9
        # What a retry after a lost PostgreSQL commit leaves: the same events under new ids.
        columns = (
            "project_id, {id}, uuid, distinct_id, event, timestamp, client_timestamp,"
            " received_at, properties, groups"
        )
        for table, head in (("events", ""), ("event_groups", "group_type, group_key, ")):
            query(
                clickhouse_server.storage_url,
                f"INSERT INTO {table} ({head}{columns.format(id='id')})"
                f" SELECT {head}{columns.format(id='id + 1000000')} FROM {table}"
                " WHERE distinct_id = 'twice'",
            )
        stored = query(
            clickhouse_server.storage_url, "SELECT uuid FROM events WHERE distinct_id = 'twice'"
        )
        assert len(stored) == 18
        person = _every_page(http, clickhouse_server, "/persons/twice/timeline")
        group = _every_page(http, clickhouse_server, "/groups/team/t")
    assert sorted(person) == sorted(group) == sorted(m["uuid"] for m in batch)
    # The console's reads collapse them too: each uuid once, counted once.
    storage, project = clickhouse_server.storage, _project_id(clickhouse_server)
    recent = [e.uuid for e in storage.recent_events(project, None, 0, 100)]
    assert sorted(u for u in recent if u in person) == sorted(person)
    assert len(recent) == len(set(recent))
    assert [e.uuid for e in storage.recent_events(project, None, 0, 4)] == recent[:4]
    since = min(m["timestamp"] for m in batch)
    counts = storage.event_counts(project, since, 3600)
    assert sorted((c.event, c.count) for c in counts if c.event.startswith("e")) == [
        (f"e{i}", 1) for i in range(9)
    ]


def _project_id(server: RunningServer) -> int:
    project = server.storage.get_project("default")
    assert project is not None
    return project.id


def _every_page(http: httpx.Client, server: RunningServer, path: str) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        response = http.get(
            f"{server.url}/api/oak{path}",
            params={"limit": 4, **({"cursor": cursor} if cursor else {})},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert response.status_code == 200, response.text
        page = response.json()
        seen.extend(e["uuid"] for e in page["events"])
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
