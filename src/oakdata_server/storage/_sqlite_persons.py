"""Persons in SQLite: _persons.py's rules in SQLite's dialect, under the names the engine
(sqlite.py, _sqlite_ingest.py) calls.

No lock of its own: the caller's write transaction (BEGIN IMMEDIATE) holds the database's
only write lock, so the rules read as if there were one writer.
"""

from __future__ import annotations

from oakdata_server.storage._persons import REFUSED_LINK, Persons
from oakdata_server.storage._sql import SQLITE

__all__ = [
    "REFUSED_LINK",
    "change_person_properties",
    "distinct_ids",
    "ensure_person",
    "group_properties",
    "mark_identified",
    "may_link",
    "merge",
    "person_of",
    "person_properties",
    "set_group_properties",
]

_persons = Persons(SQLITE)
change_person_properties = _persons.change_person_properties
distinct_ids = _persons.distinct_ids
ensure_person = _persons.ensure_person
group_properties = _persons.group_properties
mark_identified = _persons.mark_identified
may_link = _persons.may_link
merge = _persons.merge
person_of = _persons.person_of
person_properties = _persons.person_properties
set_group_properties = _persons.set_group_properties
