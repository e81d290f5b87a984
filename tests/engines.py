"""The storage engines the storage tests run on, and how to look at what each one stored.

A test module that sets `EVERY_ENGINE = True` runs once per engine (tests/conftest.py):
SQLite in a temporary file; PostgreSQL in a fresh database on the server that
OAK_TEST_POSTGRES_URL names; ClickHouse (OAK_TEST_CLICKHOUSE_URL) for events with a fresh
PostgreSQL database for the rest. `eval "$(scripts/services)"` starts both servers. Without
a URL those runs skip, saying why; with OAK_REQUIRE_SERVICES=1 (CI) they fail instead.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

ENGINES = ("sqlite", "postgresql", "clickhouse")
POSTGRES_URL_ENV = "OAK_TEST_POSTGRES_URL"
CLICKHOUSE_URL_ENV = "OAK_TEST_CLICKHOUSE_URL"
REQUIRE_SERVICES_ENV = "OAK_REQUIRE_SERVICES"


def service_url(variable: str, what: str) -> str:
    """The URL of a running service for the tests, or a skip (a failure where required)."""
    url = os.environ.get(variable)
    if url:
        return url
    reason = f'{variable} is not set: no {what} to test on (`eval "$(scripts/services)"`)'
    if os.environ.get(REQUIRE_SERVICES_ENV) == "1":
        pytest.fail(f"{REQUIRE_SERVICES_ENV}=1 but {reason}")
    pytest.skip(reason)


@contextmanager
def engine_url(engine: str, directory: Path) -> Iterator[str]:
    """A URL for a new, empty database of `engine`, dropped afterwards."""
    if engine == "sqlite":
        yield str(directory / "oakdata.db")
        return
    if engine == "clickhouse":
        server = service_url(CLICKHOUSE_URL_ENV, "ClickHouse")
        with _postgres_database() as identity, _clickhouse_database(server) as events:
            yield f"{events}?identity={quote(identity, safe='')}"
        return
    with _postgres_database() as url:
        yield url


@contextmanager
def _postgres_database() -> Iterator[str]:
    import psycopg

    server = service_url(POSTGRES_URL_ENV, "PostgreSQL")
    name = f"oak_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@contextmanager
def _clickhouse_database(server: str) -> Iterator[str]:
    name = f"oak_test_{uuid.uuid4().hex[:16]}"
    _clickhouse(server, f"CREATE DATABASE {name}")
    try:
        yield server.rsplit("/", 1)[0] + "/" + name
    finally:
        _clickhouse(server, f"DROP DATABASE IF EXISTS {name}")


def _clickhouse(url: str, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of `sql` with `?` placeholders, run on ClickHouse as the server itself would."""
    from oakdata_server.storage.clickhouse import ClickHouseEvents, literal

    for value in parameters:
        sql = sql.replace("?", literal(value), 1)
    events = ClickHouseEvents(url, migrate=False)
    try:
        returns_rows = sql.lstrip().upper().startswith("SELECT")
        text = events.query(sql + (" FORMAT JSONCompact" if returns_rows else ""))
    finally:
        events.close()
    return [tuple(row) for row in json.loads(text)["data"]] if returns_rows else []


class ChdbTransport:
    """ClickHouseEvents' statements run on chdb: the current ClickHouse, in this process.

    The same statements as over HTTP, in the same database; an INSERT's data follows its
    statement, as ClickHouse's own client sends it. Output is TabSeparated unless the
    statement names a FORMAT, as over HTTP. One statement at a time: the server's threads
    share the session."""

    def __init__(self, directory: Path, database: str = "oak") -> None:
        chdb_session = _import_chdb()
        self._session = chdb_session.Session(str(directory))
        self._lock = threading.Lock()
        self.version = self.query("SELECT version()").strip()
        self.query(f"CREATE DATABASE IF NOT EXISTS {database}")
        self.query(f"USE {database}")

    def query(self, sql: str, body: bytes = b"") -> str:
        from oakdata_server.storage.base import StorageUnavailable

        statement = sql + "\n" + body.decode() if body else sql
        with self._lock:
            try:
                result = self._session.query(statement, "TabSeparated")
            except Exception as error:  # chdb's own error type, whatever the release
                # ClickHouse's message, which may quote the statement: fine in a test,
                # where it says what a current ClickHouse refuses.
                raise StorageUnavailable(f"chdb refused a statement: {error}") from None
        return bytes(result.bytes()).decode()

    def close(self) -> None:
        self._session.close()


def _import_chdb() -> Any:
    """chdb's session module, or a skip (a failure with OAK_REQUIRE_SERVICES=1)."""
    try:
        from chdb import session
    except ImportError:
        reason = "chdb is not installed: no current ClickHouse to test on (the test extra)"
        if os.environ.get(REQUIRE_SERVICES_ENV) == "1":
            pytest.fail(f"{REQUIRE_SERVICES_ENV}=1 but {reason}")
        pytest.skip(reason)
    return session


def engine_of(url: str) -> str:
    if url.startswith("clickhouse://"):
        return "clickhouse"
    return "postgresql" if is_postgres(url) else "sqlite"


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def query(url: str | Path, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of `sql` (with `?` placeholders) read on a connection of its own. With
    ClickHouse, statements on events go there and the rest to its PostgreSQL."""
    url = str(url)
    if engine_of(url) == "clickhouse":
        from oakdata_server.storage.clickhouse import split_url

        events, identity = split_url(url)
        if " events" in sql or " event_groups" in sql:
            return _clickhouse(events, sql, parameters)
        url = identity
    if is_postgres(url):
        import psycopg

        with psycopg.connect(url, autocommit=True) as connection:
            cursor = connection.execute(sql.replace("?", "%s"), parameters)
            return cursor.fetchall() if cursor.description is not None else []
    connection = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=10.0)
    try:
        rows = connection.execute(sql, parameters).fetchall()
        connection.commit()
        return rows
    finally:
        connection.close()


def stored_id(url: str, identifier: str) -> str | bytes:
    """An identifier as the engine keeps it: PostgreSQL's are bytes (_pg_schema.py says why)."""
    return identifier.encode() if engine_of(url) == "postgresql" else identifier


def stored_event_uuids(url: str | Path) -> Counter[str]:
    """How many rows of `events` each uuid has (the table has no unique constraint on it)."""
    return Counter(row[0] for row in query(url, "SELECT uuid FROM events"))


def stored_message_uuids(url: str | Path) -> set[str]:
    """The de-duplication table: one row per (project, uuid) by its primary key."""
    return {row[0] for row in query(url, "SELECT CAST(uuid AS TEXT) FROM messages")}
