"""The PostgreSQL engine: keys, persons, identity and events, with psycopg 3.

A small pool of connections, one per concurrent call (ingest and reads run in Starlette's
thread pool), each call one transaction. A 2xx means committed: PostgreSQL's own commit,
with synchronous_commit as the server has it (on by default).

Ingest stores requests in the order _plan.py gives. A run of captures takes a few statements
whatever its length: its uuids claimed in `messages` at once (ON CONFLICT DO NOTHING, the
exactly-once rule), persons made for the ids that have none, and the events written with
COPY. Whatever changes persons runs under the project's advisory lock (_pg_persons.py).
"""

from __future__ import annotations

import functools
import itertools
import json
import queue
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from oakdata_server.keys import KeyKind
from oakdata_server.storage import _pg_persons as persons
from oakdata_server.storage._events import EventStore
from oakdata_server.storage._pg_events import PostgresEvents
from oakdata_server.storage._pg_schema import migrate
from oakdata_server.storage._plan import Capture, event_row, first_sightings, store_requests
from oakdata_server.storage._sqlite_persons import REFUSED_LINK
from oakdata_server.storage._sqlite_persons import _load_versioned as load_versioned
from oakdata_server.storage.base import (
    MAX_IDS_IN_TIMELINE,
    EventCount,
    GroupView,
    IngestRequest,
    IngestResult,
    KeyRecord,
    Position,
    Project,
    StorageNotFound,
    StorageUnavailable,
    StoredEvent,
    Timeline,
)
from oakdata_server.storage.versioned import plain
from oakdata_server.validation import ValidMessage, format_timestamp

POOL_SIZE = 8  # at most Starlette's thread pool's calls at once, and few of those in practice
CONNECT_TIMEOUT_SECONDS = 5


def public_location(url: str) -> str:
    """The URL without its password, for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class PostgresStorage:
    def __init__(self, url: str, *, create: bool = True, events: EventStore | None = None) -> None:
        self._events: EventStore = events or PostgresEvents()
        self.location = " with events in ".join(
            filter(None, (public_location(url), self._events.location))
        )
        self._url = url
        self._idle: queue.LifoQueue[psycopg.Connection[Any]] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(POOL_SIZE)
        with self._connection() as db:
            exists = _scalar(db, "SELECT to_regclass('oakdata_schema')")
            if exists is None and not create:
                raise StorageNotFound(f"no oakdata schema in {self.location}")
            migrate(db)

    def close(self) -> None:
        self._events.close()
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        with self._slots, _translate_errors():
            try:
                db = self._idle.get_nowait()
            except queue.Empty:
                db = psycopg.connect(
                    self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
                )
            try:
                yield db
            except BaseException:
                db.close()  # its state is unknown: a new one serves the next call
                raise
            if db.closed or db.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                db.close()
            else:
                self._idle.put(db)

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        with self._connection() as db, db.transaction():
            yield db

    # projects and keys

    def create_project(self, name: str) -> Project:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO projects (name, created_at) VALUES (%s, %s)"
                " ON CONFLICT (name) DO NOTHING",
                (name, _now()),
            )
            project_id = _scalar(db, "SELECT id FROM projects WHERE name = %s", (name,))
        return Project(int(project_id), name)

    def get_project(self, name: str) -> Project | None:
        with self._transaction() as db:
            row = db.execute("SELECT id FROM projects WHERE name = %s", (name,)).fetchone()
        return None if row is None else Project(int(row[0]), name)

    def create_key(
        self,
        project_id: int,
        kind: KeyKind,
        lookup_id: str,
        key_hash: str,
        name: str,
        origins: Sequence[str],
    ) -> KeyRecord:
        with self._transaction() as db:
            key_id = _scalar(
                db,
                "INSERT INTO api_keys (project_id, kind, lookup_id, key_hash, name, origins,"
                " created_at) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (project_id, kind, lookup_id, key_hash, name, json.dumps(list(origins)), _now()),
            )
        return next(k for k in self.list_keys() if k.id == key_id)

    def list_keys(self) -> list[KeyRecord]:
        return self._keys("", ())

    def find_active_keys(self, lookup_id: str) -> list[KeyRecord]:
        # Read on every request, never cached: a revocation counts from the next request.
        return self._keys("WHERE k.lookup_id = %s AND k.revoked_at IS NULL", (lookup_id,))

    def _keys(self, where: str, parameters: tuple[Any, ...]) -> list[KeyRecord]:
        # One statement, so no transaction around it: read on every request, and BEGIN and
        # COMMIT would be two more round trips.
        with self._connection() as db:
            rows = db.execute(
                # `where` is one of our constant fragments; values are parameters.
                "SELECT k.id, k.project_id, p.name, k.kind, k.lookup_id, k.key_hash, k.name,"  # noqa: S608
                " k.origins, k.created_at, k.revoked_at FROM api_keys k"
                f" JOIN projects p ON p.id = k.project_id {where} ORDER BY k.id",
                parameters,
            ).fetchall()
        return [
            KeyRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], tuple(json.loads(r[7])), r[8], r[9])
            for r in rows
        ]

    def revoke_key(self, lookup_id: str) -> bool:
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE api_keys SET revoked_at = %s WHERE lookup_id = %s AND revoked_at IS NULL",
                (_now(), lookup_id),
            )
            return cursor.rowcount > 0

    def origin_registered(self, origin: str) -> bool:
        with self._transaction() as db:
            rows = db.execute(
                "SELECT origins FROM api_keys WHERE kind = 'public' AND revoked_at IS NULL"
            ).fetchall()
        return any(origin in json.loads(origins) for (origins,) in rows)

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
        with self._transaction() as db:
            # The lock first, before any row is claimed: taken after, it could wait on a
            # request that waits on one of our rows (a retry racing its original).
            if _changes_persons(db, project_id, [m for r in requests for m in r.messages]):
                persons.identity_lock(db, project_id)
            return store_requests(
                requests,
                functools.partial(self._store_captures, db, project_id),
                functools.partial(_store_other, db, project_id),
            )

    # reading

    def timeline(
        self, project_id: int, distinct_id: str, limit: int, after: Position | None
    ) -> Timeline | None:
        with self._transaction() as db:
            db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            person_id = persons.person_of(db, project_id, distinct_id.encode())
            if person_id is None:
                return None
            id_count = _scalar(
                db, "SELECT count(*) FROM person_ids WHERE person_id = %s", (person_id,)
            )
            ids = [
                bytes(r[0]).decode()
                for r in db.execute(
                    "SELECT distinct_id FROM person_ids WHERE person_id = %s"
                    " ORDER BY distinct_id LIMIT %s",
                    (person_id, MAX_IDS_IN_TIMELINE),
                )
            ]
            properties = persons.person_properties(db, person_id)
            events, next_position = self._events.person_page(
                db, project_id, person_id, limit, after
            )
        return Timeline(ids, int(id_count), properties, events, next_position)

    def group(
        self, project_id: int, group_type: str, group_key: str, limit: int, after: Position | None
    ) -> GroupView | None:
        key = (project_id, group_type.encode(), group_key.encode())
        with self._transaction() as db:
            db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            row = db.execute(
                "SELECT properties FROM groups WHERE project_id = %s AND group_type = %s"
                " AND group_key = %s",
                key,
            ).fetchone()
            events, next_position = self._events.group_page(
                db, project_id, group_type, group_key, limit, after
            )
        if row is None and not events:
            return None
        properties = plain(load_versioned(row[0])) if row else {}
        return GroupView(group_type, group_key, properties, events, next_position)

    def recent_events(
        self, project_id: int, event: str | None, after_id: int, limit: int
    ) -> list[StoredEvent]:
        with self._transaction() as db:
            db.execute("SET TRANSACTION READ ONLY")
            return self._events.recent(db, project_id, event, after_id, limit)

    def event_counts(self, project_id: int, since: str, bucket_seconds: int) -> list[EventCount]:
        with self._transaction() as db:
            db.execute("SET TRANSACTION READ ONLY")
            return self._events.counts(db, project_id, since, bucket_seconds)

    def _store_captures(
        self, db: psycopg.Connection[Any], project_id: int, captures: Sequence[Capture]
    ) -> list[bool]:
        """Whether each capture was stored (False: a duplicate), all in a few statements."""
        claimed = _claim(
            db, project_id, [c.message for c in captures], [c.received for c in captures]
        )
        stored = first_sightings(captures, {c.message.uuid for c in captures} - claimed)
        new = list(itertools.compress(captures, stored))
        if not new:
            return stored
        persons.ensure_persons(db, project_id, {c.message.distinct_id.encode() for c in new})
        for c in new:
            if c.message.changes_person:  # $set, $set_once, $unset carried by the event
                person_id = persons.person_of(db, project_id, c.message.distinct_id.encode())
                if person_id is not None:
                    persons.change_person_properties(db, person_id, c.message, c.trusted)
        # Ids drawn while another transaction draws are not consecutive: each is fetched,
        # as one text (a row each would cost more to read than to draw).
        ids = map(
            int,
            _scalar(
                db,
                "SELECT string_agg(nextval('events_id_seq')::text, ',')"
                " FROM generate_series(1, %s)",
                (len(new),),
            ).split(","),
        )
        self._events.write(db, [event_row(i, project_id, c) for i, c in zip(ids, new, strict=True)])
        return stored


def _claim(
    db: psycopg.Connection[Any],
    project_id: int,
    messages: Sequence[ValidMessage],
    received: Sequence[str],
) -> set[str]:
    """The uuids of `messages` not seen before, now remembered as seen."""
    # Sent as three comma-separated texts, not arrays: psycopg builds an array parameter in
    # Python, element by element, which cost more than the insert (bench/engines.py). No
    # value can hold a comma: uuids, types and timestamps were validated. Claimed in uuid
    # order, so that two groups holding the same uuids (a retry racing its original) wait
    # on each other rather than deadlock.
    rows = db.execute(
        "INSERT INTO messages (project_id, uuid, type, received_at)"
        " SELECT %s, u, t, r FROM unnest(string_to_array(%s, ','), string_to_array(%s, ','),"
        " string_to_array(%s, ',')) AS m(u, t, r) ORDER BY u"
        " ON CONFLICT DO NOTHING RETURNING uuid",
        (
            project_id,
            ",".join([m.uuid for m in messages]),
            ",".join([m.type for m in messages]),
            ",".join(received),
        ),
    ).fetchall()
    return {row[0] for row in rows}


def _changes_persons(
    db: psycopg.Connection[Any], project_id: int, messages: Sequence[ValidMessage]
) -> bool:
    """Whether storing `messages` may change persons: an identity message, a capture with a
    person operator, or a new id."""
    if any(m.type != "capture" or m.changes_person for m in messages):
        return True
    distinct_ids = list({m.distinct_id.encode() for m in messages})
    known = _scalar(
        db,
        "SELECT count(*) FROM person_ids WHERE project_id = %s AND distinct_id = ANY(%s)",
        (project_id, distinct_ids),
    )
    return int(known) < len(distinct_ids)


def _store_other(
    db: psycopg.Connection[Any],
    project_id: int,
    message: ValidMessage,
    received: str,
    trusted: bool,
) -> bool | str:
    if not trusted and not _public_key_may(db, project_id, message):
        return REFUSED_LINK
    if not _claim(db, project_id, [message], [received]):
        return False
    _apply(db, project_id, message, trusted)
    return True


def _public_key_may(db: psycopg.Connection[Any], project_id: int, message: ValidMessage) -> bool:
    if message.type == "alias":
        return persons.may_link(
            db, project_id, message.distinct_id.encode(), message.alias.encode()
        )
    if message.type == "identify" and message.anon_distinct_id:
        return persons.may_link(
            db, project_id, message.distinct_id.encode(), message.anon_distinct_id.encode()
        )
    return True


def _apply(
    db: psycopg.Connection[Any], project_id: int, message: ValidMessage, trusted: bool
) -> None:
    distinct_id = message.distinct_id.encode()
    if message.type == "identify":
        person_id = persons.ensure_person(db, project_id, distinct_id)
        persons.change_person_properties(db, person_id, message, trusted)
        persons.mark_identified(db, project_id, distinct_id)
        if message.anon_distinct_id:
            anon = message.anon_distinct_id.encode()
            persons.merge(db, project_id, distinct_id, anon)
            if trusted:
                persons.mark_identified(db, project_id, anon)
    elif message.type == "alias":
        alias = message.alias.encode()
        persons.merge(db, project_id, distinct_id, alias)
        if trusted:
            persons.mark_identified(db, project_id, distinct_id, alias)
    else:
        persons.set_group_properties(db, project_id, message)


def _scalar(db: psycopg.Connection[Any], query: str, parameters: tuple[Any, ...] = ()) -> Any:
    """The first column of the one row a query returns."""
    row = db.execute(query, parameters).fetchone()
    if row is None:
        raise RuntimeError("the query returned no row")
    return row[0]


def _now() -> str:
    return format_timestamp(datetime.now(timezone.utc))


@contextmanager
def _translate_errors() -> Iterator[None]:
    try:
        yield
    except psycopg.OperationalError as error:
        # Unreachable, restarting, out of connections: the caller may retry. The message
        # may name the host but never the password (libpq does not print it).
        raise StorageUnavailable(f"PostgreSQL is unavailable: {error}") from None
