"""The PostgreSQL schema, versioned in a one-row table and brought up to date on start.

The same tables as SQLite's (schema.py says why events keep their distinct id), with two
differences: identifiers are BYTEA, because a distinct id may hold any character and TEXT
refuses NUL, and because bytes sort as SQLite sorts its TEXT (byte by byte), so pages come
in the same order on every engine; timestamps stay fixed-width TEXT, for the same reason.

Each migration is a step from one version to the next, run in its own transaction under an
advisory lock, so servers starting together (`--workers`, several machines) migrate once.
"""

from __future__ import annotations

from typing import Any

SCHEMA_VERSION = 3
# Event ids are drawn this many at a time: the id sequence's increment since version 3.
EVENT_ID_BLOCK = 1024
MIGRATION_LOCK = 0x6F616B64  # "oakd": any constant the application's own locks do not use

MIGRATIONS: dict[int, str] = {
    # 0 -> 1: everything SQLite's schema v2 holds.
    1: """
CREATE TABLE projects (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE api_keys (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects(id),
    kind TEXT NOT NULL CHECK (kind IN ('secret', 'public')),
    lookup_id TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    origins TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX api_keys_lookup ON api_keys (lookup_id);
CREATE TABLE messages (
    project_id BIGINT NOT NULL,
    uuid TEXT NOT NULL,
    type TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (project_id, uuid)
);
CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL,
    uuid TEXT NOT NULL,
    distinct_id BYTEA NOT NULL,
    event BYTEA NOT NULL,
    timestamp TEXT COLLATE "C" NOT NULL,
    client_timestamp TEXT NOT NULL,
    received_at TEXT NOT NULL,
    properties TEXT NOT NULL,
    groups TEXT NOT NULL
);
CREATE INDEX events_by_distinct_id ON events (project_id, distinct_id, timestamp, id);
CREATE TABLE event_groups (
    event_id BIGINT NOT NULL,
    project_id BIGINT NOT NULL,
    group_type BYTEA NOT NULL,
    group_key BYTEA NOT NULL,
    timestamp TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (project_id, group_type, group_key, timestamp, event_id)
);
CREATE TABLE persons (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL,
    properties TEXT NOT NULL
);
CREATE TABLE person_ids (
    project_id BIGINT NOT NULL,
    distinct_id BYTEA NOT NULL,
    person_id BIGINT NOT NULL,
    identified BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (project_id, distinct_id)
);
CREATE INDEX person_ids_by_person ON person_ids (person_id);
CREATE TABLE groups (
    project_id BIGINT NOT NULL,
    group_type BYTEA NOT NULL,
    group_key BYTEA NOT NULL,
    properties TEXT NOT NULL,
    PRIMARY KEY (project_id, group_type, group_key)
);
""",
    # 1 -> 2: the exactly-once claims narrowed to what is read. A claim is most of what
    # PostgreSQL does per event when events are in ClickHouse: as a 16-byte uuid, without the
    # type and receipt time nothing read, 3.9 µs of its CPU per claim against 4.6 (5,000-uuid
    # claims), and less to write ahead. Validated uuids are lower-case 8-4-4-4-12 text, which
    # is how PostgreSQL writes a uuid back. Rewrites the table, holding it meanwhile (2 s
    # per million messages here), so ingest waits for it on the first start of version 2.
    2: """
ALTER TABLE messages
    DROP COLUMN type,
    DROP COLUMN received_at,
    ALTER COLUMN uuid TYPE uuid USING uuid::uuid;
""",
    # 2 -> 3: event ids drawn a block at a time, one nextval per EVENT_ID_BLOCK events rather
    # than one per event: 0.04 µs of PostgreSQL CPU per event against 0.62 (5,000 events).
    # Each nextval now gives the first id of a block; the next one is EVENT_ID_BLOCK past it.
    3: f"ALTER SEQUENCE events_id_seq INCREMENT BY {EVENT_ID_BLOCK};",
}


def migrate(connection: Any, target: int = SCHEMA_VERSION) -> tuple[int, int]:
    """Bring the database to `target`; (version before, version after). `connection` is a
    psycopg connection in autocommit mode."""
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        connection.execute("CREATE TABLE IF NOT EXISTS oakdata_schema (version INTEGER NOT NULL)")
        row = connection.execute("SELECT version FROM oakdata_schema").fetchone()
        if row is None:
            connection.execute("INSERT INTO oakdata_schema (version) VALUES (0)")
        before = 0 if row is None else int(row[0])
        if before > SCHEMA_VERSION:
            raise RuntimeError(
                f"The database has schema version {before}; this server knows up to "
                f"{SCHEMA_VERSION}. Upgrade oakdata."
            )
        for version in range(before + 1, target + 1):
            connection.execute(MIGRATIONS[version])
            connection.execute("UPDATE oakdata_schema SET version = %s", (version,))
    return before, max(before, target)
