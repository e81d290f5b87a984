"""What only the ClickHouse events engine needs: its literals, and reads that collapse the
rows a failed PostgreSQL commit can leave twice in ClickHouse (storage/clickhouse.py).

Each test runs on the ClickHouse server of OAK_TEST_CLICKHOUSE_URL (Debian's 18.16 in CI)
and on chdb, a current ClickHouse in this process, with the same ClickHouseEvents class and
so the same statements: migrations, inserts, pages, the console's reads."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from engines import ChdbTransport, engine_url, query

from .conftest import ADMIN_TOKEN, RunningServer, message, post_batch, start_server, timeline

Statement = Callable[[str], list[tuple[Any, ...]]]


@pytest.fixture(scope="module", params=["server", "chdb"])
def clickhouse(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningServer, Statement]]:
    """A running server with events in ClickHouse, and a way to run SQL there directly."""
    directory = tmp_path_factory.mktemp("clickhouse")
    if request.param == "server":
        with engine_url("clickhouse", directory) as url:
            thread, running = start_server(url)
            yield running, lambda sql: query(url, sql)
        thread.stop()
        running.storage.close()
        return
    from oakdata_server.storage.clickhouse import ClickHouseEvents
    from oakdata_server.storage.postgres import PostgresStorage

    transport = ChdbTransport(directory / "chdb")
    events = ClickHouseEvents("clickhouse://chdb/oak", transport=transport)
    assert events.migrate() == (1, 1)  # idempotent: a second run does nothing

    def statement(sql: str) -> list[tuple[Any, ...]]:
        returns_rows = sql.lstrip().upper().startswith("SELECT")
        text = events.query(sql + (" FORMAT JSONCompact" if returns_rows else ""))
        return [tuple(row) for row in json.loads(text)["data"]] if returns_rows else []

    with engine_url("postgresql", directory) as identity:
        storage = PostgresStorage(identity, create=True, events=events)
        thread, running = start_server(identity, storage)
        yield running, statement
        thread.stop()
        storage.close()


@pytest.fixture(scope="module")
def clickhouse_server(clickhouse: tuple[RunningServer, Statement]) -> RunningServer:
    running, _ = clickhouse
    with httpx.Client() as http:  # one event, so that `FROM events LIMIT 1` has a row
        post_batch(http, running, [message(distinct_id="first")])
    return running


@pytest.fixture(scope="module")
def statement(clickhouse: tuple[RunningServer, Statement]) -> Statement:
    return clickhouse[1]


@pytest.mark.parametrize(
    "text",
    ["plain", "it's", "back\\slash", "nul\x00 tab\t nl\n", "\x7f\x01", "é😀\u2028", "'); DROP"],
)
def test_every_string_survives_a_literal_round_trip(
    clickhouse_server: RunningServer, statement: Statement, text: str
) -> None:
    from oakdata_server.storage.clickhouse import literal

    assert statement(f"SELECT {literal(text)} AS s FROM events LIMIT 1") == [(text,)]


FIELD_TEXTS = ["tab\there", "nl\nhere", "cr\rhere", "back\\slash", 'quote"d', "nul\x00", "\\t\t"]


def test_every_character_the_insert_format_gives_a_meaning_is_stored_as_sent(
    clickhouse_server: RunningServer,
) -> None:
    # Inserts are TabSeparated text: a tab, newline or backslash in an identifier, a
    # property or a group must be escaped, or the row is cut, refused or changed.
    # A batch each, so that each character is alone in some insert: in properties, JSON
    # escapes all of them with backslashes; in a distinct id, they are as sent.
    everywhere = {
        t: message(distinct_id="tsv", event=t, properties={"v": t, t: 1}, groups={"t": t})
        for t in FIELD_TEXTS
    }
    batches = [[m] for m in everywhere.values()]
    batches += [[message(distinct_id=f"tsv{t}", event="plain")] for t in FIELD_TEXTS]
    batches.append([message(distinct_id="tsv", event="plain", groups={"t": "plain"})])
    with httpx.Client(timeout=30.0) as http:
        for batch in batches:
            assert post_batch(http, clickhouse_server, batch).json()["accepted"] == 1
        events = timeline(http, clickhouse_server, "tsv", limit=100).json()["events"]
        assert sorted(
            (e["event"], e["properties"].get("v"), e["groups"]) for e in events
        ) == sorted([(t, t, {"t": t}) for t in FIELD_TEXTS] + [("plain", None, {"t": "plain"})])
        assert all(
            e["properties"] == {"v": e["event"], e["event"]: 1}
            for e in events
            if e["event"] != "plain"
        )
        for text in FIELD_TEXTS:
            one = timeline(http, clickhouse_server, quote(f"tsv{text}", safe="")).json()
            assert [e["distinct_id"] for e in one["events"]] == [f"tsv{text}"]
            group = _every_page(http, clickhouse_server, f"/groups/t/{quote(text, safe='')}")
            assert group == [everywhere[text]["uuid"]]


def test_rows_written_twice_are_read_once_on_every_page(
    clickhouse_server: RunningServer, statement: Statement
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
            statement(
                f"INSERT INTO {table} ({head}{columns.format(id='id')})"
                f" SELECT {head}{columns.format(id='id + 1000000')} FROM {table}"
                " WHERE distinct_id = 'twice'"
            )
        stored = statement("SELECT uuid FROM events WHERE distinct_id = 'twice'")
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


def test_pages_keep_their_order_whichever_part_holds_the_earliest_rows(
    clickhouse_server: RunningServer,
) -> None:
    # Each request is an insert of its own, so a part of its own until merged. The first
    # holds the latest timestamps: the rows a page's first read finds (_bound) are then the
    # latest, and the pages must still come in (timestamp, id) order, nothing missed.
    def at(second: int) -> str:
        return f"2026-01-01T00:{second // 60:02d}:{second % 60:02d}.000000Z"

    batches = [
        [message(distinct_id="parts", timestamp=at(s)) for s in seconds]
        for seconds in (range(100, 130), range(0, 60, 2), range(1, 61, 2), [100, 100, 5])
    ]
    with httpx.Client(timeout=30.0) as http:
        for batch in batches:
            assert post_batch(http, clickhouse_server, batch).json()["accepted"] == len(batch)
        person = _every_page(http, clickhouse_server, "/persons/parts/timeline", limit=7)
    by_uuid = {m["uuid"]: m["timestamp"] for batch in batches for m in batch}
    assert sorted(person) == sorted(by_uuid)
    assert [by_uuid[u] for u in person] == sorted(by_uuid[u] for u in person)


def _project_id(server: RunningServer) -> int:
    project = server.storage.get_project("default")
    assert project is not None
    return project.id


def _every_page(http: httpx.Client, server: RunningServer, path: str, limit: int = 4) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        response = http.get(
            f"{server.url}/api/oak{path}",
            params={"limit": limit, **({"cursor": cursor} if cursor else {})},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert response.status_code == 200, response.text
        page = response.json()
        seen.extend(e["uuid"] for e in page["events"])
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
