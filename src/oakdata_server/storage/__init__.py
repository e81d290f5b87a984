"""Storage behind a small protocol, opened from a URL: SQLite (embedded), PostgreSQL, or
ClickHouse for events with PostgreSQL for keys, persons and identity."""

from __future__ import annotations

from oakdata_server.storage.base import (
    EventCount,
    GroupView,
    IngestRequest,
    IngestResult,
    KeyRecord,
    Position,
    Project,
    Storage,
    StorageNotFound,
    StorageUnavailable,
    StoredEvent,
    Timeline,
)

SQLITE_SCHEME = "sqlite:///"
POSTGRES_SCHEMES = ("postgresql", "postgres")


def open_storage(url: str, *, create: bool = False, durable: bool = True) -> Storage:
    """The storage a URL names: `sqlite:///relative.db`, `sqlite:////abs/path.db`, a path,
    `postgresql://user:password@host:port/database` (psycopg 3), or ClickHouse for events
    with PostgreSQL for the rest, `clickhouse://...?identity=postgresql%3A...` (docs/scaling.md).

    `create` lets the call make a new, empty database; without it a missing one raises
    StorageNotFound, so a command run from the wrong directory does not invent a database.
    `durable` makes each commit survive power loss (docs/reliability.md), at some speed.
    """
    scheme, separator, _ = url.partition("://")
    if scheme == "clickhouse" and separator:
        from oakdata_server.storage.clickhouse import ClickHouseEvents, split_url
        from oakdata_server.storage.postgres import PostgresStorage

        events_url, identity_url = split_url(url)
        return PostgresStorage(identity_url, create=create, events=ClickHouseEvents(events_url))
    if scheme in POSTGRES_SCHEMES and separator:
        # Imported here: each engine loads only when used, and a second engine's driver is
        # needed only by those who use it.
        from oakdata_server.storage.postgres import PostgresStorage

        return PostgresStorage(url, create=create)
    if not separator:
        path = url
    elif url.startswith(SQLITE_SCHEME):
        path = url[len(SQLITE_SCHEME) :]
    else:
        raise ValueError(
            f"unsupported database URL scheme {scheme[:20]!r};"
            " use sqlite:///PATH, postgresql://USER@HOST/DATABASE or"
            " clickhouse://USER@HOST:8123/DATABASE?identity=POSTGRESQL_URL"
        )
    if not path:
        raise ValueError("the database URL names no file")
    from oakdata_server.storage.sqlite import SQLiteStorage

    return SQLiteStorage(path, create=create, durable=durable)


__all__ = [
    "EventCount",
    "GroupView",
    "IngestRequest",
    "IngestResult",
    "KeyRecord",
    "Position",
    "Project",
    "Storage",
    "StorageNotFound",
    "StorageUnavailable",
    "StoredEvent",
    "Timeline",
    "open_storage",
]
