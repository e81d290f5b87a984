"""open_storage: one way in for every engine; SQLite's files are private and durable."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from oakdata_server.storage import StorageNotFound, StorageUnavailable, open_storage


def test_a_url_and_a_bare_path_open_the_same_database(tmp_path: Path) -> None:
    path = tmp_path / "same.db"
    first = open_storage(f"sqlite:///{path}", create=True)
    first.create_project("from-url")
    first.close()
    second = open_storage(str(path))
    try:
        assert second.get_project("from-url") is not None
        assert second.location == str(path)
    finally:
        second.close()


def test_an_unknown_scheme_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"'mysql'.*postgresql://"):
        open_storage("mysql://user:pw@host/db")


def test_an_unreachable_postgresql_is_unavailable_and_its_password_is_not_told() -> None:
    with pytest.raises(StorageUnavailable) as raised:
        open_storage("postgresql://user:s3cret-pw@127.0.0.1:1/db")
    assert "s3cret-pw" not in str(raised.value)


def test_without_create_a_missing_database_is_an_error_and_no_file_appears(
    tmp_path: Path,
) -> None:
    path = tmp_path / "absent.db"
    with pytest.raises(StorageNotFound, match=str(path)):
        open_storage(str(path))
    assert not path.exists()


def test_the_database_and_its_wal_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "private.db"
    storage = open_storage(str(path), create=True)
    try:
        storage.create_project("p")  # a write, so the WAL exists
        for file in (path, Path(f"{path}-wal")):
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    finally:
        storage.close()


@pytest.mark.parametrize(("durable", "level"), [(True, 2), (False, 1)])
def test_durable_means_an_fsync_per_commit(tmp_path: Path, durable: bool, level: int) -> None:
    storage = open_storage(str(tmp_path / "d.db"), create=True, durable=durable)
    try:
        # PRAGMA synchronous is per connection: ask the engine's own (2 FULL, 1 NORMAL).
        assert storage._connection.execute("PRAGMA synchronous").fetchone()[0] == level  # type: ignore[attr-defined]
    finally:
        storage.close()


def test_the_database_url_variable_wins_over_the_older_path_variable() -> None:
    from oakdata_server.settings import settings_from_env

    both = {"OAK_SERVER_DATABASE_URL": "postgresql://db/oak", "OAK_SERVER_DB_PATH": "old.db"}
    assert settings_from_env(both).db_path == "postgresql://db/oak"
    assert settings_from_env({"OAK_SERVER_DB_PATH": "old.db"}).db_path == "old.db"
    assert settings_from_env(both, db_path="given.db").db_path == "given.db"
