"""Storage behind a small protocol; SQLite is the one engine today."""

from oakdata_server.storage.base import (
    GroupView,
    IngestResult,
    KeyRecord,
    Position,
    Project,
    Storage,
    StorageUnavailable,
    StoredEvent,
    Timeline,
)
from oakdata_server.storage.sqlite import SQLiteStorage

__all__ = [
    "GroupView",
    "IngestResult",
    "KeyRecord",
    "Position",
    "Project",
    "SQLiteStorage",
    "Storage",
    "StorageUnavailable",
    "StoredEvent",
    "Timeline",
]
