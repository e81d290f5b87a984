"""Persons, their ids and properties in PostgreSQL, inside the caller's transaction.

_persons.py's rules in PostgreSQL's dialect (identifiers are bytes: _pg_schema.py says why),
and what only this engine does: the identity lock, and persons for many ids at once.

Concurrency: the caller holds a per-project advisory lock for every change to persons and
ids, so two requests (two workers, two machines) never merge the same persons at once; the
rules then read as if there were one writer, as on SQLite.
"""

from __future__ import annotations

from typing import Any

from oakdata_server.storage._persons import Persons
from oakdata_server.storage._sql import POSTGRES

Connection = Any  # a psycopg.Connection; psycopg's own types stay inside the engine


class PostgresPersons(Persons[bytes]):
    def __init__(self) -> None:
        super().__init__(POSTGRES)

    def identity_lock(self, db: Connection, project_id: int) -> None:
        """Serialize changes to a project's persons until the transaction ends."""
        db.execute("SELECT pg_advisory_xact_lock(%s, %s)", (1, project_id))

    def ensure_persons(self, db: Connection, project_id: int, distinct_ids: set[bytes]) -> None:
        """A person for each id that has none yet, in three statements whatever their number."""
        known = db.execute(
            "SELECT distinct_id FROM person_ids WHERE project_id = %s AND distinct_id = ANY(%s)",
            (project_id, list(distinct_ids)),
        ).fetchall()
        missing = sorted(distinct_ids - {bytes(row[0]) for row in known})
        if not missing:
            return
        rows = db.execute(
            "INSERT INTO persons (project_id, properties)"
            " SELECT %s, '{}' FROM generate_series(1, %s) RETURNING id",
            (project_id, len(missing)),
        ).fetchall()
        db.execute(
            "INSERT INTO person_ids (project_id, distinct_id, person_id)"
            " SELECT %s, d, p FROM unnest(%s::bytea[], %s::bigint[]) AS t(d, p)",
            (project_id, missing, [row[0] for row in rows]),
        )


persons = PostgresPersons()
