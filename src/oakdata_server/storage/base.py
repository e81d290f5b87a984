"""What the routes need from a database, and nothing more.

Every method is blocking; the app calls them off the event loop. A new engine is one class
implementing `Storage`, opened by `open_storage` from its URL; routes, CLI and demo do not
change. Engine-specific SQL and error handling stay inside the engine's modules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from oakdata_server.keys import KeyKind
from oakdata_server.validation import ValidMessage

MAX_PAGE_BYTES = 4 * 1024 * 1024  # of stored properties per page, whatever the event count
MAX_IDS_IN_TIMELINE = 100  # a person's ids listed with a timeline; the count is always given


class StorageUnavailable(Exception):
    """The database is busy or unreachable; the request may be retried."""


class StorageNotFound(Exception):
    """The database does not exist and this command may not create it."""


@dataclass(frozen=True)
class Project:
    id: int
    name: str


@dataclass(frozen=True)
class KeyRecord:
    id: int
    project_id: int
    project_name: str
    kind: KeyKind
    lookup_id: str  # public: the key's prefix and its first characters, e.g. oak_sec_1a2b3c4d
    key_hash: str
    name: str
    origins: tuple[str, ...]
    created_at: str
    revoked_at: str | None


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int
    refused: tuple[tuple[int, str], ...] = ()  # (position in the messages given, reason)


@dataclass(frozen=True)
class IngestRequest:
    """One request's valid messages, as `ingest_many` takes them."""

    messages: Sequence[ValidMessage]
    received_at: datetime
    trusted: bool = True  # False for a public key: see Storage.ingest


@dataclass(frozen=True)
class StoredEvent:
    id: int
    uuid: str
    event: str
    distinct_id: str
    timestamp: str
    client_timestamp: str
    received_at: str
    properties: dict[str, Any]
    groups: dict[str, str]


@dataclass(frozen=True)
class Position:
    """Where a page ends: events sort by (timestamp, id)."""

    timestamp: str
    event_id: int


@dataclass(frozen=True)
class EventCount:
    """How many events of one name fell in one time bucket (0 is the bucket starting at
    `since`), for the console's chart."""

    event: str
    bucket: int
    count: int


@dataclass(frozen=True)
class Timeline:
    distinct_ids: list[str]  # the first MAX_IDS_IN_TIMELINE, sorted
    distinct_id_count: int
    properties: dict[str, Any]
    events: list[StoredEvent]
    next_position: Position | None


@dataclass(frozen=True)
class GroupView:
    group_type: str
    group_key: str
    properties: dict[str, Any]
    events: list[StoredEvent]
    next_position: Position | None


class Storage(Protocol):
    location: str  # what to tell an operator: the file, or the URL without its password
    # Groups of one project a process may store at once (group_commit.py): more overlap one
    # group's wait on the database with the next one's work; fewer make larger groups.
    stores_at_once: int

    def create_project(self, name: str) -> Project: ...
    def get_project(self, name: str) -> Project | None: ...
    def create_key(
        self,
        project_id: int,
        kind: KeyKind,
        lookup_id: str,
        key_hash: str,
        name: str,
        origins: Sequence[str],
    ) -> KeyRecord: ...
    def list_keys(self) -> list[KeyRecord]: ...
    def revoke_key(self, lookup_id: str) -> bool: ...
    def find_active_keys(self, lookup_id: str) -> list[KeyRecord]: ...
    def origin_registered(self, origin: str) -> bool: ...
    def ingest(
        self,
        project_id: int,
        messages: Sequence[ValidMessage],
        received_at: datetime,
        trusted: bool = True,
    ) -> IngestResult:
        """Store new messages; with `trusted` False (a public key), refuse links between two
        identified persons and rank the properties set below those of a secret key."""
        ...

    def ingest_many(self, project_id: int, requests: Sequence[IngestRequest]) -> list[IngestResult]:
        """Several requests in one transaction, as if stored one after another, each
        answered as if alone (group_commit.py): one commit for all, or none."""
        ...

    def timeline(
        self, project_id: int, distinct_id: str, limit: int, after: Position | None
    ) -> Timeline | None: ...
    def group(
        self, project_id: int, group_type: str, group_key: str, limit: int, after: Position | None
    ) -> GroupView | None: ...
    # For the console: the latest events (newest first, ids above `after_id`), and counts per
    # event name and time bucket of the events timestamped at or after `since`.
    def recent_events(
        self, project_id: int, event: str | None, after_id: int, limit: int
    ) -> list[StoredEvent]: ...
    def event_counts(
        self, project_id: int, since: str, bucket_seconds: int
    ) -> list[EventCount]: ...
    def close(self) -> None: ...
