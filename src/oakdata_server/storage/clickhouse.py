"""Events in ClickHouse, persons and identity in PostgreSQL: the path past one machine.

    clickhouse://USER:PASSWORD@HOST:8123/DATABASE?identity=<postgresql:// URL, %-encoded>

Spoken to over ClickHouse's HTTP interface with httpx (already the server's HTTP client), so
no driver is needed; the SQL keeps to what Debian's ClickHouse 18.16 and current releases
both run (literals escaped here, since 18.16 has no query parameters): the tests run this
class on both, a current one through chdb (ClickHouseTransport).

Exactly once: a request's uuids are claimed in PostgreSQL's `messages` table (postgres.py)
in the same transaction that then inserts the new events into ClickHouse, and commits only
after ClickHouse answered. A failed insert rolls the claims back, so the retry stores them.
One window is left: ClickHouse stored the rows and then PostgreSQL failed to commit. The
retry then stores them again under new ids, so reads show each uuid once, at its first row
in page order (`_page`), and no walk through the pages shows an event twice.

Durability: an insert is answered once ClickHouse has written the part to its files; 18.16
does not fsync them (later releases can: fsync_after_insert), so a 2xx survives a crash of
the ClickHouse process but not a power loss of its machine, unless replicas hold it too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import httpx

from oakdata_server.storage._events import (
    NewEvents,
    event_row,
    groups_json,
    page_of,
    stored_event,
)
from oakdata_server.storage.base import EventCount, Position, StorageUnavailable, StoredEvent
from oakdata_server.validation import ValidMessage, parse_timestamp

SCHEMA_VERSION = 1
# The event columns an insert names, in the order `write` and `_fields` give them.
_INSERTED = (
    "id, project_id, uuid, distinct_id, event, timestamp, client_timestamp, received_at,"
    " properties, groups"
)
_ESCAPED = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n"})
TIMEOUT_SECONDS = 30.0
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# A stored timestamp (fixed-width UTC text) as integer microseconds since the epoch, in SQL
# that 18.16 and current releases both run (18.16's toDateTime wants a space, not a T).
_MICROSECONDS = (
    "(toInt64(toDateTime(replaceOne(substring(timestamp, 1, 19), 'T', ' '), 'UTC')) * 1000000"
    " + toInt64(substring(timestamp, 21, 6)))"
)
_PAGE_COLUMNS = (
    "id, uuid, event, distinct_id, timestamp, client_timestamp, received_at, properties, groups"
)
_EVENT_COLUMNS = (
    "project_id UInt64, id UInt64 DEFAULT 0, uuid String, distinct_id String, event String,"
    " timestamp String, client_timestamp String, received_at String, properties String,"
    " groups String"
)
MIGRATIONS: dict[int, list[str]] = {
    # Sorted as timelines read them. event_groups holds a copy of each tagged event, sorted
    # as group pages read them: ClickHouse reads a sorted range fast and joins slowly.
    1: [
        f"CREATE TABLE IF NOT EXISTS events ({_EVENT_COLUMNS})"
        " ENGINE = MergeTree() ORDER BY (project_id, distinct_id, timestamp, id)",
        f"CREATE TABLE IF NOT EXISTS event_groups (group_type String, group_key String,"
        f" {_EVENT_COLUMNS}) ENGINE = MergeTree()"
        " ORDER BY (project_id, group_type, group_key, timestamp, id)",
    ],
}


def split_url(url: str) -> tuple[str, str]:
    """(the ClickHouse URL without its identity part, the PostgreSQL URL for identity)."""
    parts = urlsplit(url)
    identity = parse_qs(parts.query).get("identity", [""])[0]
    if not identity.startswith(("postgresql://", "postgres://")):
        raise ValueError(
            "a clickhouse:// URL needs ?identity=<postgresql:// URL, %-encoded>: persons and"
            " identity live in PostgreSQL"
        )
    return parts._replace(query="").geturl(), identity


def literal(value: str | int) -> str:
    """A ClickHouse literal: integers as they are, strings quoted with every byte that could
    end or bend the literal escaped."""
    if isinstance(value, int):
        return str(int(value))
    escaped = []
    for char in value:
        if char in "\\'":
            escaped.append("\\" + char)
        elif ord(char) < 0x20 or char == "\x7f":
            escaped.append(f"\\x{ord(char):02x}")
        else:
            escaped.append(char)
    return "'" + "".join(escaped) + "'"


class ClickHouseTransport(Protocol):
    """Where statements go: ClickHouse's HTTP interface here; the tests also run the same
    class on chdb, a current ClickHouse in-process (tests/server/test_clickhouse.py)."""

    def query(self, sql: str, body: bytes = b"") -> str:
        """Run one statement (`body`: the data of an INSERT … FORMAT); its text output, as
        TabSeparated unless the statement names a FORMAT. A failure is StorageUnavailable,
        without the statement (it may hold property values)."""
        ...

    def close(self) -> None: ...


class HttpTransport:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._http = httpx.Client(
            base_url=f"http://{parts.hostname}:{parts.port or 8123}",
            auth=(parts.username or "default", parts.password or ""),
            params={"database": parts.path.strip("/") or "default"},
            timeout=TIMEOUT_SECONDS,
        )

    def query(self, sql: str, body: bytes = b"") -> str:
        try:
            response = self._http.post(
                "/", params={"query": sql} if body else None, content=body or sql.encode()
            )
        except httpx.HTTPError as error:
            raise StorageUnavailable(f"ClickHouse is unavailable: {type(error).__name__}") from None
        if response.status_code != 200:
            code = response.headers.get("x-clickhouse-exception-code", "?")
            raise StorageUnavailable(f"ClickHouse refused a statement (code {code})")
        return response.text

    def close(self) -> None:
        self._http.close()


class ClickHouseEvents:
    # Each insert is a new part on disk, with its own files to make and merges after: fewer,
    # larger groups. A part cost ClickHouse 18.16 about 5 ms of CPU whatever its rows on the
    # development VM's journal-less filesystem (docs/scaling.md says why) and about 1 ms on a
    # journaled one. One store at a time measured better on both: with bench/engines.py's
    # clients and two workers, ClickHouse 4.2-6.3 µs of CPU per event against 9.5-9.9 on the
    # first, 107,400 events/s against 85,300 over 1,000,000 events on the second.
    stores_at_once = 1

    def __init__(
        self, url: str, *, migrate: bool = True, transport: ClickHouseTransport | None = None
    ) -> None:
        parts = urlsplit(url)
        self.database = parts.path.strip("/") or "default"
        self.location = f"clickhouse://{parts.hostname}:{parts.port or 8123}/{self.database}"
        self._transport = transport or HttpTransport(url)
        if migrate:
            self.migrate()

    def close(self) -> None:
        self._transport.close()

    def query(self, sql: str, body: bytes = b"") -> str:
        """Run one statement; its text output (ClickHouseTransport.query)."""
        return self._transport.query(sql, body)

    def migrate(self) -> tuple[int, int]:
        """Bring the tables to SCHEMA_VERSION; (version before, after). Each step is
        idempotent, so servers starting together may both run it."""
        self.query(
            "CREATE TABLE IF NOT EXISTS oakdata_schema (version UInt32)"
            " ENGINE = MergeTree() ORDER BY version"
        )
        before = int(self.query("SELECT max(version) FROM oakdata_schema").strip() or 0)
        if before > SCHEMA_VERSION:
            raise RuntimeError(
                f"ClickHouse has oakdata schema version {before}; this server knows up to "
                f"{SCHEMA_VERSION}. Upgrade oakdata."
            )
        for version in range(before + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[version]:
                self.query(statement)
            self.query(f"INSERT INTO oakdata_schema (version) VALUES ({version})")  # noqa: S608
        return before, max(before, SCHEMA_VERSION)

    def write(self, db: Any, events: NewEvents) -> None:
        # TabSeparated text (_plain says why), built straight from the messages: tuples of
        # their fields cost half as much again, and are made only to escape or for the groups.
        text = "".join(
            [
                f"{event_id}\t{project_id}\t{m.uuid}\t{m.distinct_id}\t{m.event}\t{m.timestamp}\t"
                f"{m.client_timestamp}\t{received}\t{m.properties_json}\t{groups_json(m.groups)}\n"
                for event_id, project_id, m, received in zip(*events, strict=True)
            ]
        )
        if not _plain(text, len(events.ids), 10):
            text = _escaped([_fields(*row) for row in zip(*events, strict=True)])
        self.query(f"INSERT INTO events ({_INSERTED}) FORMAT TabSeparated", text.encode())
        tagged = [
            (t, k, *_fields(*row))
            for row in zip(*events, strict=True)
            if row[2].groups
            for t, k in row[2].groups.items()
        ]
        if tagged:
            text = "".join(["\t".join(row) + "\n" for row in tagged])
            if not _plain(text, len(tagged), 12):
                text = _escaped(tagged)
            self.query(
                f"INSERT INTO event_groups (group_type, group_key, {_INSERTED})"
                " FORMAT TabSeparated",
                text.encode(),
            )

    def person_page(
        self, db: Any, project_id: int, person_id: int, limit: int, after: Position | None
    ) -> tuple[list[StoredEvent], Position | None]:
        ids = [
            bytes(r[0]).decode()
            for r in db.execute(
                "SELECT distinct_id FROM person_ids WHERE person_id = %s", (person_id,)
            )
        ]
        where = f"project_id = {literal(project_id)} AND distinct_id IN ({_list(ids)})"
        return self._page("events", where, limit, after)

    def group_page(
        self,
        db: Any,
        project_id: int,
        group_type: str,
        group_key: str,
        limit: int,
        after: Position | None,
    ) -> tuple[list[StoredEvent], Position | None]:
        where = (
            f"project_id = {literal(project_id)} AND group_type = {literal(group_type)}"
            f" AND group_key = {literal(group_key)}"
        )
        return self._page("event_groups", where, limit, after)

    def _page(
        self, table: str, where: str, limit: int, after: Position | None
    ) -> tuple[list[StoredEvent], Position | None]:
        """A page showing each uuid once, at its first row in page order.

        Rows come in page order; a uuid already on the page is skipped, and one that also
        has a row before the cursor was shown on an earlier page and is dropped; the page is
        read again with room for as many more. (LIMIT 1 BY uuid in the query would do the
        first part, but makes ClickHouse 18.16 hash every row of the person: 70 ms for
        100,000 rows.) The first page, the common one, is two short reads (`_bound`); a page
        after a cursor adds a read of the uuids before it. The cursor's conditions start
        with `timestamp >=` or `<=` so that the primary index skips the rows they exclude,
        and PREWHERE reads the properties only of granules with a row on the page (1.5 MB
        read for a first page, not 5.9). Every value in the SQL went through literal(); the
        rest is our own text."""
        scope, before = f"({where})", ""
        if after is not None:
            ts, event_id = literal(after.timestamp), literal(after.event_id)
            scope += f" AND timestamp >= {ts} AND (timestamp > {ts} OR id > {event_id})"
            before = f" AND timestamp <= {ts} AND (timestamp < {ts} OR id <= {event_id})"
        wanted = limit + 1
        while True:
            rows = self._rows(
                f"SELECT {_PAGE_COLUMNS} FROM {table} PREWHERE {scope}"  # noqa: S608
                f"{self._bound(table, scope, wanted)} ORDER BY timestamp, id LIMIT {wanted}"
            )
            shown: set[str] = set()
            if before and rows:
                shown = {
                    row[0]
                    for row in self._rows(
                        f"SELECT DISTINCT uuid FROM {table} WHERE ({where}){before}"  # noqa: S608
                        f" AND uuid IN ({_list([r[1] for r in rows])})"
                    )
                }
            fresh: list[Any] = []  # PageRow values, as JSONCompact gives them
            for row in rows:
                if row[1] not in shown:
                    shown.add(row[1])
                    fresh.append(row)
            if len(fresh) > limit or len(rows) < wanted:
                return page_of(fresh, limit)
            wanted += len(rows) - len(fresh)

    def _bound(self, table: str, scope: str, wanted: int) -> str:
        """A condition keeping the first `wanted` rows of `scope` in page order that lets the
        primary index skip most of the others; "" when the scope holds fewer rows.

        ClickHouse 18.16 reads and sorts every row of the scope for ORDER BY … LIMIT (later
        releases read in the sorting order): 19 ms for a person's 100,000 events. Any
        `wanted` rows of the scope bound the first `wanted`: none of those sorts after the
        last of them. A LIMIT without ORDER BY stops once it has read enough (blocks of
        `wanted` rows: 101 rows read, not 16,384), and one thread reads a part in sorting
        order, so the rows found are early ones and the bound is close. Measured on 18.16
        for the first page of 100,000 events: 1 ms for this read, 4 ms for the page's."""
        found = self._rows(
            f"SELECT timestamp, id FROM {table} WHERE {scope}"  # noqa: S608
            f" LIMIT {wanted} SETTINGS max_threads = 1, max_block_size = {wanted}"
        )
        if len(found) < wanted:
            return ""
        ts, event_id = max((t, int(i)) for t, i in found)
        return (
            f" AND timestamp <= {literal(ts)}"
            f" AND (timestamp < {literal(ts)} OR id <= {literal(event_id)})"
        )

    def recent(
        self, db: Any, project_id: int, event: str | None, after_id: int, limit: int
    ) -> list[StoredEvent]:
        """The newest events by id, each uuid once, at its first (lowest) id, as `_page`
        shows it. Ids are not the sorting key here, so ClickHouse reads the project's ids and
        keeps the top `limit`: fine for the console's page of live events."""
        where = f"project_id = {literal(project_id)} AND id > {literal(after_id)}"
        if event is not None:
            where += f" AND event = {literal(event)}"
        wanted = limit
        while True:
            rows = self._rows(
                f"SELECT {_PAGE_COLUMNS} FROM events WHERE {where}"  # noqa: S608
                f" ORDER BY id DESC LIMIT {wanted}"
            )
            first: dict[str, int] = {}
            if rows:
                first = {
                    uuid: int(lowest)
                    for uuid, lowest in self._rows(
                        "SELECT uuid, min(id) FROM events"  # noqa: S608
                        f" WHERE project_id = {literal(project_id)}"
                        f" AND uuid IN ({_list([r[1] for r in rows])}) GROUP BY uuid"
                    )
                }
            fresh = [r for r in rows if int(r[0]) == first.get(r[1], int(r[0]))]
            if len(fresh) >= limit or len(rows) < wanted:
                return [stored_event(r) for r in fresh[:limit]]
            wanted += len(rows) - len(fresh)

    def counts(self, db: Any, project_id: int, since: str, bucket_seconds: int) -> list[EventCount]:
        # uniqExact(uuid): a row stored twice (see the module's docstring) counts once.
        start = parse_timestamp(since)
        if start is None:
            raise ValueError("since: must be an RFC 3339 timestamp")
        since_us = (start - _EPOCH) // timedelta(microseconds=1)
        rows = self._rows(
            f"SELECT event, intDiv({_MICROSECONDS} - {literal(since_us)},"  # noqa: S608
            f" {literal(bucket_seconds * 1_000_000)}) AS bucket, uniqExact(uuid) FROM events"
            f" WHERE project_id = {literal(project_id)} AND timestamp >= {literal(since)}"
            " GROUP BY event, bucket"
        )
        return [EventCount(e, int(b), int(n)) for e, b, n in rows]

    def _rows(self, sql: str) -> list[list[Any]]:
        rows: list[list[Any]] = json.loads(self.query(sql + " FORMAT JSONCompact"))["data"]
        return rows


def _fields(event_id: int, project_id: int, m: ValidMessage, received: str) -> tuple[str, ...]:
    """An event's fields in the order of _INSERTED, as text."""
    return tuple(map(str, event_row(event_id, project_id, m, received)))


def _plain(text: str, rows: int, fields: int) -> bool:
    """Whether `text`, rows of `fields` fields joined by tabs and ended by newlines, is
    ClickHouse's TabSeparated input as it is: whether no field holds a backslash, tab or
    newline, which the format gives a meaning.

    TabSeparated, not JSONEachRow: ClickHouse parses it for less (2.3 µs of CPU per row
    against 3.2, 5,000-row inserts into the events table, 18.16), and it costs less to
    build here. Fields rarely hold one of those three characters (properties are JSON,
    which escapes control characters, so only a backslash can appear there), so the text
    is built as it is and checked once; only if some field holds one is it built again,
    escaped (_escaped)."""
    return "\\" not in text and text.count("\n") == rows and text.count("\t") == rows * (fields - 1)


def _escaped(rows: Sequence[tuple[str, ...]]) -> str:
    """TabSeparated text of `rows`, every field escaped."""
    return "".join(["\t".join([f.translate(_ESCAPED) for f in row]) + "\n" for row in rows])


def _list(values: list[str]) -> str:
    # IN () is a syntax error; an empty person has no events, and '' is no distinct id.
    return ", ".join(literal(v) for v in values) or "''"
