"""What differs between SQLite's SQL and PostgreSQL's, for the statements written once.

_projects.py and _persons.py are written against a DB-API connection (sqlite3's or psycopg's:
both have `execute` returning a cursor) and a `Dialect`. The dialect holds only what the two
really spell differently; everything engine-specific beyond that (transactions, advisory
locks, COPY, ensure_persons' bulk insert) stays in the engine's own modules.

SQLite is taken as old as Python may link it: no RETURNING (3.35) and no ON CONFLICT clause
(3.24), so its forms are `lastrowid` and INSERT OR IGNORE / OR REPLACE, which every version has.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

# How an identifier (distinct id, group type and key) is stored: text in SQLite, bytes in
# PostgreSQL (_pg_schema.py says why).
Id = TypeVar("Id", str, bytes)


class Connection(Protocol):
    """sqlite3.Connection and psycopg.Connection, as far as the shared statements use them."""

    # The cursor is Any: sqlite3's has lastrowid, psycopg's has not (see Dialect.insert_id).
    def execute(self, query: str, parameters: Any = ..., /) -> Any: ...


@dataclass(frozen=True)
class Dialect(Generic[Id]):
    mark: str  # a parameter's placeholder
    identifier: Callable[[str], Id]
    read_identifier: Callable[[Any], str]  # a stored identifier as a row gives it, as text
    # RETURNING, ON CONFLICT and SELECT ... FOR UPDATE: PostgreSQL has them; SQLite needs none
    # of the row locks (a write transaction holds the whole file) and may lack the others.
    postgres: bool

    def sql(self, statement: str) -> str:
        """A statement written with sqlite3's `?`, in this engine's placeholders."""
        # No statement of ours holds a `?` or a `%` of its own.
        return statement if self.mark == "?" else statement.replace("?", self.mark)

    def insert_id(self, db: Connection, statement: str, parameters: tuple[Any, ...]) -> int:
        """Run an INSERT of one row; the id it was given."""
        if self.postgres:
            return int(db.execute(self.sql(f"{statement} RETURNING id"), parameters).fetchone()[0])
        return int(db.execute(self.sql(statement), parameters).lastrowid)

    def insert_ignoring(self, into: str, unique: str) -> str:
        """`INSERT INTO {into}` that skips a row whose `unique` columns are taken."""
        if self.postgres:
            return self.sql(f"INSERT INTO {into} ON CONFLICT ({unique}) DO NOTHING")
        return self.sql(f"INSERT OR IGNORE INTO {into}")

    def insert_replacing(self, into: str, unique: str, column: str) -> str:
        """`INSERT INTO {into}` that overwrites `column` of a row whose `unique` columns are
        taken (the only other column: SQLite's REPLACE writes the whole row)."""
        if self.postgres:
            return self.sql(
                f"INSERT INTO {into} ON CONFLICT ({unique})"
                f" DO UPDATE SET {column} = EXCLUDED.{column}"
            )
        return self.sql(f"INSERT OR REPLACE INTO {into}")

    @property
    def lock_row(self) -> str:
        """Appended to a SELECT of a row the transaction will write back."""
        return " FOR UPDATE" if self.postgres else ""


def _decode(value: Any) -> str:
    return bytes(value).decode()


SQLITE: Dialect[str] = Dialect(mark="?", identifier=str, read_identifier=str, postgres=False)
POSTGRES: Dialect[bytes] = Dialect(
    mark="%s", identifier=str.encode, read_identifier=_decode, postgres=True
)
