"""The SQLite engine: one file, WAL, a writing connection and a reading one, each with a lock.

A connection with a lock rather than a pool: SQLite allows one writer at a time anyway, and the
lock turns "database is locked" between our own threads into plain queueing. Reading pages
(timelines, groups) has its own connection, so in WAL mode a slow read never holds up ingest.
Other processes (the CLI revoking a key while the server runs) wait up to BUSY_TIMEOUT_SECONDS.

Durability: with `durable` (the default) every transaction is fsynced before it commits
(synchronous=FULL), so a 2xx survives power loss; without it (synchronous=NORMAL) a commit
survives the process dying but not the machine. docs/reliability.md says what a 2xx promises.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from oakdata_server.json_values import load_stored
from oakdata_server.storage import _sqlite_persons as persons
from oakdata_server.storage._plan import store_requests
from oakdata_server.storage._projects import ProjectsAndKeys
from oakdata_server.storage._sql import SQLITE
from oakdata_server.storage._sqlite_ingest import store_captures, store_other
from oakdata_server.storage.base import (
    MAX_IDS_IN_TIMELINE,
    MAX_PAGE_BYTES,
    EventCount,
    GroupView,
    IngestRequest,
    IngestResult,
    Position,
    StorageNotFound,
    StorageUnavailable,
    StoredEvent,
    Timeline,
)
from oakdata_server.storage.schema import migrate
from oakdata_server.validation import ValidMessage

BUSY_TIMEOUT_SECONDS = 5.0
FILE_MODE = 0o600  # events and key hashes: readable by the server's user only

_EVENT_COLUMNS = (
    "e.id, e.uuid, e.event, e.distinct_id, e.timestamp, e.client_timestamp, e.received_at,"
    " e.properties, e.groups"
)


class SQLiteStorage(ProjectsAndKeys):
    _dialect = SQLITE
    # A second group is ready the moment the first commits: with bench/engines.py's clients
    # and one worker, 44-46k events/s against 35-41k with one store at a time.
    stores_at_once = 2

    def __init__(self, path: str, *, create: bool = True, durable: bool = True) -> None:
        self.location = path
        if not os.path.exists(path):
            if not create:
                raise StorageNotFound(f"no database at {path}")
            _create_private_file(path)
        self._connection = _connect(path)
        self._lock = threading.Lock()
        try:
            self._connection.execute("PRAGMA journal_mode = WAL")
            synchronous = "FULL" if durable else "NORMAL"
            self._connection.execute(f"PRAGMA synchronous = {synchronous}")
            migrate(self._connection)
            self._reader = _connect(path)
        except BaseException:
            self._connection.close()  # a refused file must not leave a connection behind
            raise
        self._reader_lock = threading.Lock()

    def close(self) -> None:
        with self._lock, self._reader_lock:
            self._connection.close()
            self._reader.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock, _translate_errors():
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield self._connection
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    @contextmanager
    def _read(self, pages: bool = False) -> Iterator[sqlite3.Connection]:
        # Short lookups (keys, projects) use the writing connection, so they never wait
        # behind a page being read; pages use the reading one.
        lock, connection = (self._lock, self._connection)
        if pages:
            lock, connection = (self._reader_lock, self._reader)
        with lock, _translate_errors():
            # One snapshot for the several queries of a read, so a page is consistent.
            connection.execute("BEGIN")
            try:
                yield connection
            finally:
                connection.execute("COMMIT")

    # ingest

    def ingest(
        self,
        project_id: int,
        messages: Sequence[ValidMessage],
        received_at: datetime,
        trusted: bool = True,
    ) -> IngestResult:
        return self.ingest_many(project_id, [IngestRequest(messages, received_at, trusted)])[0]

    def ingest_many(self, project_id: int, requests: Sequence[IngestRequest]) -> list[IngestResult]:
        with self._write() as db:
            return store_requests(
                requests,
                functools.partial(store_captures, db, project_id),
                functools.partial(store_other, db, project_id),
            )

    # reading

    def timeline(
        self, project_id: int, distinct_id: str, limit: int, after: Position | None
    ) -> Timeline | None:
        with self._read(pages=True) as db:
            person_id = persons.person_of(db, project_id, distinct_id)
            if person_id is None:
                return None
            ids, id_count = persons.distinct_ids(db, person_id, MAX_IDS_IN_TIMELINE)
            properties = persons.person_properties(db, person_id)
            events, next_position = _page(
                db,
                "JOIN person_ids p ON p.project_id = e.project_id AND p.distinct_id = e.distinct_id"
                " WHERE p.person_id = ?",
                (person_id,),
                limit,
                after,
            )
        return Timeline(ids, id_count, properties, events, next_position)

    def group(
        self, project_id: int, group_type: str, group_key: str, limit: int, after: Position | None
    ) -> GroupView | None:
        with self._read(pages=True) as db:
            properties = persons.group_properties(db, project_id, group_type, group_key)
            events, next_position = _page(
                db,
                "JOIN event_groups g ON g.event_id = e.id WHERE g.project_id = ?"
                " AND g.group_type = ? AND g.group_key = ?",
                (project_id, group_type, group_key),
                limit,
                after,
                # event_groups' copies of the timestamp and id: its primary key is then
                # read in page order, not every event of the group sorted.
                order="g.timestamp, g.event_id",
            )
        if properties is None and not events:
            return None
        return GroupView(group_type, group_key, properties or {}, events, next_position)

    def recent_events(
        self, project_id: int, event: str | None, after_id: int, limit: int
    ) -> list[StoredEvent]:
        # Newest first by row id (the primary key, so no index is needed): arrival order.
        where = "WHERE e.project_id = ? AND e.id > ?"
        parameters: tuple[Any, ...] = (project_id, after_id)
        if event is not None:
            where, parameters = f"{where} AND e.event = ?", (*parameters, event)
        with self._read(pages=True) as db:
            rows = db.execute(
                # Only our own constant fragments are formatted in; every value is a parameter.
                f"SELECT {_EVENT_COLUMNS} FROM events e {where} ORDER BY e.id DESC LIMIT ?",  # noqa: S608
                (*parameters, limit),
            ).fetchall()
        return [_stored_event(r) for r in rows]

    def event_counts(self, project_id: int, since: str, bucket_seconds: int) -> list[EventCount]:
        with self._read(pages=True) as db:
            rows = db.execute(
                "SELECT event, CAST((julianday(timestamp) - julianday(?)) * 86400 / ? AS INTEGER)"
                " AS bucket, count(*) FROM events WHERE project_id = ? AND timestamp >= ?"
                " GROUP BY event, bucket",
                (since, bucket_seconds, project_id, since),
            ).fetchall()
        return [EventCount(event, bucket, count) for event, bucket, count in rows]


def _page(
    db: sqlite3.Connection,
    join_where: str,
    parameters: tuple[Any, ...],
    limit: int,
    after: Position | None,
    order: str = "e.timestamp, e.id",
) -> tuple[list[StoredEvent], Position | None]:
    """Up to `limit` events and about MAX_PAGE_BYTES of properties, and where the next begins;
    pages go in the order of `order` (a timestamp and an event id)."""
    position = ""
    if after is not None:
        position = f" AND ({order}) > (?, ?)"
        parameters = (*parameters, after.timestamp, after.event_id)
    # One row more than asked tells whether there is a next page. Rows are taken one by one
    # so that a page of large events stops at its byte budget without loading the rest.
    cursor = db.execute(
        # Only our own constant fragments are formatted in; every value is a parameter.
        f"SELECT {_EVENT_COLUMNS} FROM events e {join_where}{position}"  # noqa: S608
        f" ORDER BY {order} LIMIT ?",
        (*parameters, limit + 1),
    )
    events: list[StoredEvent] = []
    size = 0
    for r in cursor:
        if len(events) == limit or (events and size + len(r[7]) > MAX_PAGE_BYTES):
            cursor.close()
            last = events[-1]
            return events, Position(last.timestamp, last.id)
        size += len(r[7])
        events.append(_stored_event(r))
    return events, None


def _stored_event(r: Any) -> StoredEvent:
    return StoredEvent(r[0], r[1], r[2], r[3], r[4], r[5], r[6], _object(r[7]), _object(r[8]))


def _object(text: str) -> dict[str, Any]:
    loaded = load_stored(text)
    return loaded if isinstance(loaded, dict) else {"$unreadable": "not a JSON object"}


@contextmanager
def _translate_errors() -> Iterator[None]:
    try:
        yield
    except sqlite3.OperationalError as error:
        # "database is locked" / "unable to open": the caller may retry; anything else is a bug.
        if "locked" in str(error) or "busy" in str(error) or "unable to open" in str(error):
            raise StorageUnavailable(str(error)) from error
        raise


def _create_private_file(path: str) -> None:
    """An empty file only the server's user may read; SQLite gives its -wal and -shm the same."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        pass  # another process created it between our check and now
    except OSError as error:
        raise StorageUnavailable(f"cannot create {path}: {error.strerror}") from None


def _connect(path: str) -> sqlite3.Connection:
    # isolation_level=None: we open transactions ourselves, BEGIN IMMEDIATE for writes so a
    # writer never fails half-way on an upgrade from a read lock.
    try:
        return sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
        )
    except sqlite3.OperationalError as error:
        raise StorageUnavailable(f"cannot open {path}: {error}") from None
