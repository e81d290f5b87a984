"""`oakdata migrate`: schemas brought up to date, and a SQLite installation moved to
PostgreSQL, or to ClickHouse and PostgreSQL, whole: the same timelines, groups, keys and
cursors read from either."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import pytest

from engines import engine_url, query, stored_message_uuids
from oakdata_server.storage import _pg_schema, open_storage, transfer
from oakdata_server.storage._events import NewEvents
from oakdata_server.storage.clickhouse import ClickHouseEvents, split_url

from .conftest import RunningServer, message, post_batch, start_server, valid
from .test_cli import run_cli


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    with engine_url("postgresql", tmp_path) as url:
        yield url


@pytest.fixture(params=["postgresql", "clickhouse"])
def destination_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with engine_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def sqlite_installation(tmp_path: Path) -> RunningServer:
    thread, running = start_server(tmp_path / "old.db")
    with httpx.Client(timeout=30.0) as http:
        batch = [
            message(distinct_id="anon-1", event="viewed", groups={"company": "acme"}),
            message(distinct_id="nul\x00id", event="odd", properties={"n": 2**63}),
            message(
                "identify",
                distinct_id="user-1",
                properties={"$anon_distinct_id": "anon-1", "plan": "pro"},
            ),
            message("alias", distinct_id="user-1", alias="cus_1"),
            message("group_identify", properties={"size": 10}),
            *[message(distinct_id="cus_1", event=f"e{i}") for i in range(30)],
        ]
        assert post_batch(http, running, batch).json()["accepted"] == len(batch)
    thread.stop()
    running.storage.close()
    return running


def _everything(url: str) -> dict[str, object]:
    storage = open_storage(url)
    try:
        project = storage.get_project("default")
        assert project is not None
        return {
            "keys": storage.list_keys(),
            "user": storage.timeline(project.id, "user-1", 10, None),
            "odd": storage.timeline(project.id, "nul\x00id", 10, None),
            "group": storage.group(project.id, "company", "acme", 10, None),
        }
    finally:
        storage.close()


def test_a_sqlite_installation_moves_whole(
    sqlite_installation: RunningServer, destination_url: str
) -> None:
    source = f"sqlite:///{sqlite_installation.db_path}"
    moved = run_cli("migrate", "--from", source, "--to", destination_url, env=_env())
    assert moved.returncode == 0, moved.stderr
    assert "copied 1 projects" in moved.stderr
    for password in _passwords(destination_url):
        assert password not in moved.stderr
    before, after = _everything(source), _everything(destination_url)
    assert after == before
    user = after["user"]
    assert user.next_position is not None  # type: ignore[attr-defined]
    # A cursor from before the move pages the same after it: ids were kept.
    pages = []
    for url in (source, destination_url):
        storage = open_storage(url)
        try:
            pages.append(storage.timeline(1, "cus_1", 10, user.next_position))  # type: ignore[attr-defined]
        finally:
            storage.close()
    assert pages[0] == pages[1]
    assert [e.event for e in pages[1].events] == [f"e{i}" for i in range(9, 19)]  # type: ignore[union-attr]
    # New keys, persons and events after the move do not collide with the copied ids.
    thread, running = start_server(destination_url)
    try:
        with httpx.Client(timeout=30.0) as http:
            answer = post_batch(http, running, [message(distinct_id="cus_1", event="new")])
            assert answer.json()["accepted"] == 1
            read = running.storage.timeline(1, "anon-1", 100, None)
    finally:
        thread.stop()
        running.storage.close()
    assert read is not None
    assert [e.event for e in read.events][-1] == "new"
    again = run_cli("migrate", "--from", source, "--to", destination_url, env=_env())
    assert again.returncode != 0
    assert "already holds projects" in again.stderr


def test_a_copy_that_fails_in_clickhouse_leaves_both_databases_empty(
    sqlite_installation: RunningServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = f"sqlite:///{sqlite_installation.db_path}"
    written: list[int] = []
    write = ClickHouseEvents.write

    def fails_third(self: ClickHouseEvents, db: object, events: NewEvents) -> None:
        written.append(len(events.ids))
        if len(written) == 3:
            raise ConnectionError("ClickHouse went away mid-copy")
        write(self, db, events)

    monkeypatch.setattr(transfer, "CHUNK_ROWS", 10)  # 32 events: four chunks
    monkeypatch.setattr(ClickHouseEvents, "write", fails_third)
    with engine_url("clickhouse", tmp_path) as url:
        with pytest.raises(ConnectionError):
            transfer.copy_sqlite(source, url)
        assert query(url, "SELECT count() FROM events") == [("0",)]
        assert query(url, "SELECT count() FROM event_groups") == [("0",)]
        assert query(url, "SELECT count(*) FROM projects") == [(0,)]
        monkeypatch.setattr(ClickHouseEvents, "write", write)
        copied = transfer.copy_sqlite(source, url)  # so the next try starts clean
        assert query(url, "SELECT count() FROM events") == [("32",)]
    assert written == [10, 10, 10]  # two chunks stored, then the failure
    assert copied["events"] == 32
    assert copied["event_groups"] == 1


def test_a_copy_into_clickhouse_tables_holding_events_is_refused(
    sqlite_installation: RunningServer, tmp_path: Path
) -> None:
    with engine_url("clickhouse", tmp_path) as url:
        events = ClickHouseEvents(split_url(url)[0])
        try:
            events.query("INSERT INTO events (project_id, uuid) VALUES (7, 'someone else')")
        finally:
            events.close()
        source = f"sqlite:///{sqlite_installation.db_path}"
        with pytest.raises(ValueError, match="already holds events"):
            transfer.copy_sqlite(source, url)
        assert query(url, "SELECT count() FROM events") == [("1",)]
        assert query(url, "SELECT count(*) FROM projects") == [(0,)]


def test_migrate_brings_a_database_up_to_date(tmp_path: Path, postgres_url: str) -> None:
    for url in (str(tmp_path / "fresh.db"), postgres_url):
        result = run_cli("migrate", "--db", url, env=_env())
        assert result.returncode == 0, result.stderr
        assert "is up to date" in result.stderr
    assert "--from and --to go together" in run_cli("migrate", "--from", "x.db").stderr
    elsewhere = run_cli("migrate", "--from", "x.db", "--to", "mysql://db/oak")
    assert "--to must be a postgresql:// or clickhouse:// URL" in elsewhere.stderr


def test_a_version_1_database_keeps_its_claims_through_version_2(postgres_url: str) -> None:
    # Version 2 narrows `messages` to uuids: what version 1 claimed is still a duplicate
    # after it, and the narrowed table claims new uuids, upper-case ones included.
    seen = message(distinct_id="v1-user")
    with _at_version(postgres_url, 1) as (db, project_id):
        db.execute(
            "INSERT INTO messages (project_id, uuid, type, received_at)"
            " VALUES (%s, %s, 'capture', '2026-01-01T00:00:00.000000Z')",
            (project_id, seen["uuid"]),
        )
    storage = open_storage(postgres_url)  # migrates on start
    try:
        shouted = message(distinct_id="v1-user", uuid=str(uuid.uuid4()).upper())
        now = datetime.now(timezone.utc)
        result = storage.ingest(project_id, valid(seen, shouted, shouted), now)
        assert (result.accepted, result.duplicates) == (1, 2)
        assert query(postgres_url, "SELECT version FROM oakdata_schema") == [
            (_pg_schema.SCHEMA_VERSION,)
        ]
        assert stored_message_uuids(postgres_url) == {seen["uuid"], shouted["uuid"].lower()}
    finally:
        storage.close()


def test_event_ids_after_version_3_come_in_blocks_above_the_earlier_ones(
    postgres_url: str,
) -> None:
    # Version 3 makes each nextval a block of ids: a database whose sequence stood at 70
    # (ids drawn one by one) goes on above 70, and a run longer than a block takes
    # several blocks without giving any id twice.
    with _at_version(postgres_url, 2) as (db, project_id):
        db.execute("SELECT setval('events_id_seq', 70)")
    storage = open_storage(postgres_url)  # migrates on start
    try:
        now = datetime.now(timezone.utc)
        count = 2 * _pg_schema.EVENT_ID_BLOCK + 5
        first = valid(*[message(distinct_id=f"user-{i % 7}") for i in range(count)])
        assert storage.ingest(project_id, first, now).accepted == count
        ids = [row[0] for row in query(postgres_url, "SELECT id FROM events ORDER BY id")]
        assert ids[0] > 70
        assert ids == list(range(ids[0], ids[0] + count))  # one transaction: its blocks in turn
        assert storage.ingest(project_id, valid(message()), now).accepted == 1
        (last,) = query(postgres_url, "SELECT max(id) FROM events")
        assert last[0] > ids[-1]
    finally:
        storage.close()


@contextmanager
def _at_version(url: str, version: int) -> Iterator[tuple[psycopg.Connection[Any], int]]:
    """A new database at schema `version`, holding a project: a connection and its id."""
    with psycopg.connect(url, autocommit=True) as db:
        assert _pg_schema.migrate(db, target=version) == (0, version)
        project = db.execute(
            "INSERT INTO projects (name, created_at) VALUES ('default', '') RETURNING id"
        ).fetchone()
        assert project is not None
        yield db, project[0]


def _passwords(url: str) -> list[str]:
    """The passwords in a database URL, the identity URL's of a clickhouse:// one too."""
    parts = urlsplit(url)
    identity = parse_qs(parts.query).get("identity", [])
    return [p for p in (parts.password, *(urlsplit(i).password for i in identity)) if p]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("OAK_SERVER_")}
