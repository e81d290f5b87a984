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
import queue
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from oakdata_server.storage._events import EventStore
from oakdata_server.storage._persons import REFUSED_LINK
from oakdata_server.storage._pg_events import PostgresEvents
from oakdata_server.storage._pg_persons import KnownIds, persons
from oakdata_server.storage._pg_schema import EVENT_ID_BLOCK, migrate
from oakdata_server.storage._plan import Run, chosen, first_sightings, new_events, store_requests
from oakdata_server.storage._projects import ProjectsAndKeys
from oakdata_server.storage._sql import POSTGRES
from oakdata_server.storage.base import (
    MAX_IDS_IN_TIMELINE,
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
from oakdata_server.validation import ValidMessage

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


class PostgresStorage(ProjectsAndKeys):
    _dialect = POSTGRES

    def __init__(self, url: str, *, create: bool = True, events: EventStore | None = None) -> None:
        self._events: EventStore = events or PostgresEvents()
        self.stores_at_once = self._events.stores_at_once
        self.location = " with events in ".join(
            filter(None, (public_location(url), self._events.location))
        )
        self._url = url
        self._known = KnownIds()
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

    # ProjectsAndKeys' two ways to a connection: its reads are one statement each, so they
    # take no transaction (BEGIN and COMMIT would be two more round trips).
    _write = _transaction
    _read = _connection

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
        given_persons: set[bytes] = set()
        with self._transaction() as db:
            # The lock first, before any row is claimed: taken after, it could wait on a
            # request that waits on one of our rows (a retry racing its original).
            if self._changes_persons(db, project_id, [m for r in requests for m in r.messages]):
                persons.identity_lock(db, project_id)
            results = store_requests(
                requests,
                functools.partial(self._store_captures, db, project_id, given_persons),
                functools.partial(_store_other, db, project_id),
            )
        self._known.add(project_id, given_persons)  # committed: theirs for good
        return results

    # reading

    def timeline(
        self, project_id: int, distinct_id: str, limit: int, after: Position | None
    ) -> Timeline | None:
        with self._transaction() as db:
            db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            person_id = persons.person_of(db, project_id, distinct_id.encode())
            if person_id is None:
                return None
            ids, id_count = persons.distinct_ids(db, person_id, MAX_IDS_IN_TIMELINE)
            properties = persons.person_properties(db, person_id)
            events, next_position = self._events.person_page(
                db, project_id, person_id, limit, after
            )
        return Timeline(ids, id_count, properties, events, next_position)

    def group(
        self, project_id: int, group_type: str, group_key: str, limit: int, after: Position | None
    ) -> GroupView | None:
        with self._transaction() as db:
            db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            properties = persons.group_properties(db, project_id, group_type, group_key)
            events, next_position = self._events.group_page(
                db, project_id, group_type, group_key, limit, after
            )
        if properties is None and not events:
            return None
        return GroupView(group_type, group_key, properties or {}, events, next_position)

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

    def _changes_persons(
        self, db: psycopg.Connection[Any], project_id: int, messages: Sequence[ValidMessage]
    ) -> bool:
        """Whether storing `messages` may change persons: an identity message, a capture with
        a person operator, or an id without a person."""
        if any(m.type != "capture" or m.changes_person for m in messages):
            return True
        unknown = self._known.unknown(project_id, {m.distinct_id.encode() for m in messages})
        if not unknown:
            return False
        having = persons.having_persons(db, project_id, unknown)
        self._known.add(project_id, having)  # committed rows: theirs for good
        return len(having) < len(unknown)

    def _store_captures(
        self,
        db: psycopg.Connection[Any],
        project_id: int,
        given_persons: set[bytes],
        run: Run,
    ) -> list[bool]:
        """Whether each capture was stored (False: a duplicate), all in a few statements;
        `given_persons` gains the ids that may have been given a person."""
        uuids = [m.uuid for m in run.messages]
        claimed = _claim(db, project_id, uuids)
        if len(claimed) == len(uuids):  # the usual run: each uuid new, and none twice in it
            stored, new = [True] * len(uuids), run
        else:
            stored = first_sightings(run, set(uuids) - claimed)
            new = chosen(run, stored)
        if not new.messages:
            return stored
        unknown = self._known.unknown(project_id, {m.distinct_id.encode() for m in new.messages})
        persons.ensure_persons(db, project_id, unknown)
        given_persons |= unknown
        for m, trusted in zip(new.messages, new.trusted, strict=True):
            if m.changes_person:  # $set, $set_once, $unset carried by the event
                person_id = persons.person_of(db, project_id, m.distinct_id.encode())
                if person_id is not None:
                    persons.change_person_properties(db, person_id, m, trusted)
        ids = _event_ids(db, len(new.messages))
        self._events.write(db, new_events(ids, project_id, new))
        return stored


def _event_ids(db: psycopg.Connection[Any], count: int) -> list[int]:
    """`count` new event ids, ascending."""
    # A block of EVENT_ID_BLOCK ids per nextval (_pg_schema.py, version 3); blocks drawn
    # while another transaction draws are not consecutive, so each block's start is fetched,
    # all as one text (a row each would cost more to read than to draw).
    starts = _scalar(
        db,
        "SELECT string_agg(nextval('events_id_seq')::text, ',') FROM generate_series(1, %s)",
        (-(-count // EVENT_ID_BLOCK),),
    )
    blocks = (range(start, start + EVENT_ID_BLOCK) for start in map(int, starts.split(",")))
    return list(itertools.islice(itertools.chain.from_iterable(blocks), count))


_CLAIM = (
    "INSERT INTO messages (project_id, uuid)"
    " SELECT %s, u::uuid FROM unnest(string_to_array(%s, ',')) AS m(u) ORDER BY 2"
)


def _claim(db: psycopg.Connection[Any], project_id: int, uuids: list[str]) -> set[str]:
    """Those of `uuids` not seen before, now remembered as seen."""
    # Sent as one comma-separated text, not an array: psycopg builds an array parameter in
    # Python, element by element, which cost more than the insert (bench/engines.py). No
    # validated uuid holds a comma, and each is lower-case 8-4-4-4-12 text, as the uuid
    # comes back. Claimed in uuid order, so that two groups holding the same uuids (a retry
    # racing its original) wait on each other rather than deadlock.
    parameters = (project_id, ",".join(uuids))
    if len(uuids) > 1:
        # Nearly always every uuid of a run is new, so a plain insert claims them all: ON
        # CONFLICT costs PostgreSQL twice as much per row (4.6-5.3 µs against 2.1-2.7, 10,000
        # uuids a claim), and sending the uuids back to say which were new cost this process
        # 0.45 µs more. A uuid seen before, or twice in the run, fails the insert (an error
        # in PostgreSQL's log); it is undone to its savepoint and the run claimed again below.
        try:
            with db.transaction():
                db.execute(_CLAIM, parameters)
            return set(uuids)
        except psycopg.errors.UniqueViolation:
            pass
    rows = db.execute(
        _CLAIM + " ON CONFLICT DO NOTHING RETURNING uuid::text", parameters
    ).fetchall()
    return {row[0] for row in rows}


def _store_other(
    db: psycopg.Connection[Any],
    project_id: int,
    message: ValidMessage,
    received: str,
    trusted: bool,
) -> bool | str:
    if not trusted and not _public_key_may(db, project_id, message):
        return REFUSED_LINK
    if not _claim(db, project_id, [message.uuid]):
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


@contextmanager
def _translate_errors() -> Iterator[None]:
    try:
        yield
    except psycopg.OperationalError as error:
        # Unreachable, restarting, out of connections: the caller may retry. The message
        # may name the host but never the password (libpq does not print it).
        raise StorageUnavailable(f"PostgreSQL is unavailable: {error}") from None
