"""Versioned properties, the same for every engine: which value of a property wins. Pure.

Person and group properties are stored as {name: [value, timestamp, uuid, trusted]}. The value
with the highest (trusted, timestamp, uuid) wins whatever order messages arrive in, so:

- a value set with a secret key (trusted = 1) is never overwritten from a public key (trusted
  = 0): the browser must not change the `plan` or `email` that billing set;
- among values of the same trust the newest timestamp wins, the uuid breaking ties.

Entries written before trust was recorded have three items and count as trusted: it is not
known who set them, and the safe guess is that a browser may not change them.
"""

from __future__ import annotations

from typing import Any

Versioned = dict[str, list[Any]]


def stamp(properties: dict[str, Any], timestamp: str, uuid: str, trusted: bool) -> Versioned:
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


def _rank(entry: list[Any]) -> tuple[int, str, str]:
    trusted = int(entry[3]) if len(entry) > 3 else 1
    return trusted, str(entry[1]), str(entry[2])
