"""The SQLite schema, versioned with PRAGMA user_version and created on first start.

Events keep the distinct id they were sent with, never a person id: a merge then only repoints
rows of `person_ids`, and a person's timeline is a join, so histories merge whatever order
aliases and events arrive in.

Versioned properties: person and group properties are stored as JSON documents whose every
value carries the trust, timestamp and uuid that set it, and merged by the rules of
storage/versioned.py, so the result does not depend on arrival order either.
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 2

_SCHEMA_V1 = """
CREATE TABLE projects (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id),
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
    project_id INTEGER NOT NULL,
    uuid TEXT NOT NULL,
    type TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (project_id, uuid)
) WITHOUT ROWID;
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL,
    uuid TEXT NOT NULL,
    distinct_id TEXT NOT NULL,
    event TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    client_timestamp TEXT NOT NULL,
    received_at TEXT NOT NULL,
    properties TEXT NOT NULL,
    groups TEXT NOT NULL
);
CREATE INDEX events_by_distinct_id ON events (project_id, distinct_id, timestamp, id);
CREATE TABLE event_groups (
    event_id INTEGER NOT NULL,
    project_id INTEGER NOT NULL,
    group_type TEXT NOT NULL,
    group_key TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    PRIMARY KEY (project_id, group_type, group_key, timestamp, event_id)
) WITHOUT ROWID;
CREATE TABLE persons (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL,
    properties TEXT NOT NULL
);
CREATE TABLE person_ids (
    project_id INTEGER NOT NULL,
    distinct_id TEXT NOT NULL,
    person_id INTEGER NOT NULL,
    PRIMARY KEY (project_id, distinct_id)
) WITHOUT ROWID;
CREATE INDEX person_ids_by_person ON person_ids (person_id);
CREATE TABLE groups (
    project_id INTEGER NOT NULL,
    group_type TEXT NOT NULL,
    group_key TEXT NOT NULL,
    properties TEXT NOT NULL,
    PRIMARY KEY (project_id, group_type, group_key)
) WITHOUT ROWID;
"""


# v2: whether each id is identified (docs/server.md, "Security model"). Ids that existed before
# are marked identified: who linked them is not known, and the safe guess is that a public key
# may not merge them into someone else.
_V1_TO_V2 = """
ALTER TABLE person_ids ADD COLUMN identified INTEGER NOT NULL DEFAULT 0;
UPDATE person_ids SET identified = 1;
"""
_SCHEMA_V2 = _SCHEMA_V1 + _V1_TO_V2


def migrate(connection: sqlite3.Connection) -> None:
    """Bring the file to SCHEMA_VERSION; refuse a file written by a newer server."""
    (version,) = connection.execute("PRAGMA user_version").fetchone()
    if version > SCHEMA_VERSION:
        raise RuntimeError(
            f"The database has schema version {version}; this server knows up to "
            f"{SCHEMA_VERSION}. Upgrade oakdata."
        )
    if version == SCHEMA_VERSION:
        return
    connection.execute("BEGIN IMMEDIATE")
    try:
        # Another process (the CLI beside a starting server) may have won the race.
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        steps = {0: _SCHEMA_V2, 1: _V1_TO_V2}.get(version, "")
        for statement in steps.split(";"):
            if statement.strip():
                connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
