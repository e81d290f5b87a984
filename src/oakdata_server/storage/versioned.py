"""Versioned properties, the same for every engine: which value of a property wins. Pure.

Group properties are stored as {name: [value, timestamp, uuid, trusted]}. The value with the
highest (trusted, timestamp, uuid) wins whatever order messages arrive in, so:

- a value set with a secret key (trusted = 1) is never overwritten from a public key (trusted
  = 0): the browser must not change the `plan` or `email` that billing set;
- among values of the same trust the newest timestamp wins, the uuid breaking ties.

Entries written before trust was recorded have three items and count as trusted: it is not
known who set them, and the safe guess is that a browser may not change them.

A person's document adds `$set_once` and `$unset` (docs/server.md, "Person properties"):

    {"plan": [value, timestamp, uuid, trusted],            the winning $set of each name
     "$unset": {"trial": [timestamp, uuid, trusted]},      the winning $unset, when it won
     "$set_once": {"referrer": [value, timestamp, uuid, trusted]}}   the earliest $set_once

$set and $unset of a name compete as above (an $unset at the same rank wins: within one
message it applies last), so a later $unset removes and an earlier one does not. $set_once
keeps the earliest value (a trusted one before any untrusted); it shows when no $set holds the
name and no $unset of the same trust is newer. Each part is a maximum or a minimum, so the
result does not depend on arrival order, and a person holds at most two entries per name.
(The one departure from applying messages in time order: a $set_once after an $unset sets the
name again only if it is the name's earliest $set_once.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Versioned = dict[str, list[Any]]
PersonDocument = dict[str, Any]

SET_ONCE = "$set_once"
UNSET = "$unset"
# Operators on a person's properties, never property names: a document uses two as sections.
OPERATORS = frozenset({"$set", SET_ONCE, UNSET})


def stamp(properties: Mapping[str, Any], timestamp: str, uuid: str, trusted: bool) -> Versioned:
    return {name: [value, timestamp, uuid, int(trusted)] for name, value in properties.items()}


def merge_versioned(left: Versioned, right: Versioned) -> Versioned:
    merged = dict(left)
    for name, entry in right.items():
        current = merged.get(name)
        if current is None or _rank(entry) > _rank(current):
            merged[name] = entry
    return merged


def plain(versioned: Versioned) -> dict[str, Any]:
    return {name: entry[0] for name, entry in sorted(versioned.items())}


def person_update(
    set_: Mapping[str, Any],
    set_once: Mapping[str, Any],
    unset: Iterable[str],
    timestamp: str,
    uuid: str,
    trusted: bool,
) -> PersonDocument:
    """One message's changes as a person document, to merge into the person's."""
    document: PersonDocument = dict(stamp(set_, timestamp, uuid, trusted))
    if set_once:
        document[SET_ONCE] = stamp(set_once, timestamp, uuid, trusted)
    tombstone = [timestamp, uuid, int(trusted)]
    for name in unset:
        document.setdefault(UNSET, {})[name] = tombstone
        document.pop(name, None)  # within one message, $unset applies after $set
    return document


def merge_persons(left: PersonDocument, right: PersonDocument) -> PersonDocument:
    """Both documents' changes in one; the same whichever is left, and merging twice is once."""
    merged: PersonDocument = _values(left)
    unsets = _section(left, UNSET)
    for name, entry in _values(right).items():
        if _wins(_value_rank(entry), merged.get(name), unsets.get(name)):
            merged[name] = entry
            unsets.pop(name, None)
    for name, tombstone in _section(right, UNSET).items():
        if _wins(_tombstone_rank(tombstone), merged.get(name), unsets.get(name)):
            unsets[name] = tombstone
            merged.pop(name, None)
    onces = _section(left, SET_ONCE)
    for name, entry in _section(right, SET_ONCE).items():
        current = onces.get(name)
        if current is None or _once_rank(entry) < _once_rank(current):
            onces[name] = entry
    if unsets:
        merged[UNSET] = unsets
    if onces:
        merged[SET_ONCE] = onces
    return merged


def person_plain(document: PersonDocument) -> dict[str, Any]:
    """The properties a person has: what a reader sees."""
    values = _values(document)
    unsets = _section(document, UNSET)
    visible = {name: entry[0] for name, entry in values.items()}
    for name, once in _section(document, SET_ONCE).items():
        if _once_shows(once, values.get(name), unsets.get(name)):
            visible[name] = once[0]
    return dict(sorted(visible.items()))


def _once_shows(once: list[Any], value: list[Any] | None, tombstone: list[Any] | None) -> bool:
    once_trust = _rank(once)[0]
    if value is not None:  # a $set holds the name; only a more trusted $set_once outranks it
        return once_trust > _rank(value)[0]
    if tombstone is None:
        return True
    tombstone_rank = _tombstone_rank(tombstone)
    if once_trust != tombstone_rank[0]:
        return once_trust > tombstone_rank[0]
    # The same message's $unset applies after its $set_once: only a strictly later one shows.
    return (str(once[1]), str(once[2])) > tombstone_rank[1:3]


def _wins(
    rank: tuple[int, str, str, int], value: list[Any] | None, tombstone: list[Any] | None
) -> bool:
    if value is not None and rank <= _value_rank(value):
        return False
    return tombstone is None or rank > _tombstone_rank(tombstone)


def _values(document: Mapping[str, Any]) -> PersonDocument:
    return {
        name: entry
        for name, entry in document.items()
        if name not in OPERATORS and _is_entry(entry, 3)
    }


def _section(document: Mapping[str, Any], name: str) -> dict[str, list[Any]]:
    # A document written before operators existed may hold a literal trait of that name.
    section = document.get(name)
    if not isinstance(section, dict):
        return {}
    size = 3 if name == UNSET else 4
    return {k: v for k, v in section.items() if k not in OPERATORS and _is_entry(v, size)}


def _is_entry(entry: Any, size: int) -> bool:
    return isinstance(entry, list) and len(entry) >= size


def _rank(entry: list[Any]) -> tuple[int, str, str]:
    trusted = int(entry[3]) if len(entry) > 3 else 1
    return trusted, str(entry[1]), str(entry[2])


def _value_rank(entry: list[Any]) -> tuple[int, str, str, int]:
    trusted, timestamp, uuid = _rank(entry)
    return trusted, timestamp, uuid, 0


def _tombstone_rank(tombstone: list[Any]) -> tuple[int, str, str, int]:
    # [timestamp, uuid, trusted]; the trailing 1 makes an $unset outrank its own message's $set.
    return int(tombstone[2]), str(tombstone[0]), str(tombstone[1]), 1


def _once_rank(entry: list[Any]) -> tuple[int, str, str]:
    # The earliest wins, a trusted value before any untrusted one.
    trusted, timestamp, uuid = _rank(entry)
    return -trusted, timestamp, uuid
