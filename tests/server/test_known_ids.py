"""The ids a PostgreSQL engine remembers as having a person (_pg_persons.KnownIds): never an
id whose person was rolled back, and a bound that starts over."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from engines import engine_url
from oakdata_server.storage import StorageUnavailable
from oakdata_server.storage._pg_events import PostgresEvents
from oakdata_server.storage._pg_persons import KnownIds
from oakdata_server.storage.postgres import PostgresStorage

from .conftest import message, valid

NOW = datetime.now(timezone.utc)


class FailingOnce(PostgresEvents):
    """Events that fail to be written the first time, after the persons were made."""

    def __init__(self) -> None:
        self.failed = False

    def write(self, db: Any, rows: Any) -> None:
        if not self.failed:
            self.failed = True
            raise StorageUnavailable("the events' database went away")
        super().write(db, rows)


@pytest.fixture
def failing_once(tmp_path: Path) -> Iterator[PostgresStorage]:
    with engine_url("postgresql", tmp_path) as url:
        storage = PostgresStorage(url, events=FailingOnce())
        yield storage
        storage.close()


def test_a_person_rolled_back_is_made_again_by_the_retry(failing_once: PostgresStorage) -> None:
    project = failing_once.create_project("default").id
    batch = valid(message(distinct_id="kn-new", event="signed_up"))
    with pytest.raises(StorageUnavailable):
        failing_once.ingest(project, batch, NOW)  # the new person is rolled back with it
    assert failing_once.ingest(project, batch, NOW).accepted == 1
    timeline = failing_once.timeline(project, "kn-new", 100, None)
    assert timeline is not None
    assert [e.event for e in timeline.events] == ["signed_up"]


def test_ids_of_committed_persons_need_no_second_look(failing_once: PostgresStorage) -> None:
    project = failing_once.create_project("default").id
    failing_once._events.failed = True  # type: ignore[attr-defined]
    failing_once.ingest(project, valid(message(distinct_id="kn-seen")), NOW)
    assert failing_once._known.unknown(project, {b"kn-seen", b"kn-other"}) == {b"kn-other"}


def test_known_ids_start_over_when_full() -> None:
    known = KnownIds(limit=3)
    known.add(1, [b"a", b"b"])
    assert known.unknown(1, [b"a", b"b", b"c"]) == {b"c"}
    assert known.unknown(2, [b"a"]) == {b"a"}  # per project
    known.add(1, [b"c", b"d"])  # 4 > 3: the first two are forgotten
    assert known.unknown(1, [b"a", b"b", b"c", b"d"]) == {b"a", b"b"}
