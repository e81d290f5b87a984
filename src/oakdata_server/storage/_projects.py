"""Projects and API keys, written once for the SQL engines: the `Storage` methods that
manage them, as a base class of SQLiteStorage and PostgresStorage.

The engine gives its dialect (_sql.py) and its two ways to a connection: `_write()`, a
transaction that commits at its end, and `_read()`, for reads of one statement each (in
sqlite.py a snapshot on the writing connection; in postgres.py a connection without a
transaction, since BEGIN and COMMIT would be two more round trips on every request's key
lookup). What is read and written is the same on both.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from typing import Any, ClassVar

from oakdata_server.keys import KeyKind
from oakdata_server.storage._sql import Connection, Dialect
from oakdata_server.storage.base import KeyRecord, Project
from oakdata_server.validation import format_timestamp


class ProjectsAndKeys:
    _dialect: ClassVar[Dialect[Any]]

    def _write(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def _read(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def create_project(self, name: str) -> Project:
        with self._write() as db:
            # The name may be taken (the CLI run twice, or twice at once): then it is that one.
            db.execute(
                self._dialect.insert_ignoring("projects (name, created_at) VALUES (?, ?)", "name"),
                (name, _now()),
            )
            (project_id,) = db.execute(
                self._dialect.sql("SELECT id FROM projects WHERE name = ?"), (name,)
            ).fetchone()
        return Project(int(project_id), name)

    def get_project(self, name: str) -> Project | None:
        with self._read() as db:
            row = db.execute(
                self._dialect.sql("SELECT id FROM projects WHERE name = ?"), (name,)
            ).fetchone()
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
        with self._write() as db:
            key_id = self._dialect.insert_id(
                db,
                "INSERT INTO api_keys (project_id, kind, lookup_id, key_hash, name, origins,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (project_id, kind, lookup_id, key_hash, name, json.dumps(list(origins)), _now()),
            )
        return next(k for k in self.list_keys() if k.id == key_id)

    def list_keys(self) -> list[KeyRecord]:
        return self._keys("", ())

    def find_active_keys(self, lookup_id: str) -> list[KeyRecord]:
        # Read on every request, never cached: a revocation counts from the next request.
        return self._keys("WHERE k.lookup_id = ? AND k.revoked_at IS NULL", (lookup_id,))

    def revoke_key(self, lookup_id: str) -> bool:
        with self._write() as db:
            cursor = db.execute(
                self._dialect.sql(
                    "UPDATE api_keys SET revoked_at = ? WHERE lookup_id = ? AND revoked_at IS NULL"
                ),
                (_now(), lookup_id),
            )
            return bool(cursor.rowcount > 0)

    def origin_registered(self, origin: str) -> bool:
        with self._read() as db:
            rows = db.execute(
                "SELECT origins FROM api_keys WHERE kind = 'public' AND revoked_at IS NULL"
            ).fetchall()
        return any(origin in json.loads(origins) for (origins,) in rows)

    def _keys(self, where: str, parameters: tuple[Any, ...]) -> list[KeyRecord]:
        # `where` is one of our constant fragments; values are parameters.
        query = (
            "SELECT k.id, k.project_id, p.name, k.kind, k.lookup_id, k.key_hash, k.name,"  # noqa: S608
            " k.origins, k.created_at, k.revoked_at FROM api_keys k"
            f" JOIN projects p ON p.id = k.project_id {where} ORDER BY k.id"
        )
        with self._read() as db:
            rows = db.execute(self._dialect.sql(query), parameters).fetchall()
        return [
            KeyRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], tuple(json.loads(r[7])), r[8], r[9])
            for r in rows
        ]


def _now() -> str:
    return format_timestamp(datetime.now(timezone.utc))
