"""The pure pieces on their own: gzip bound, rate limiter, timestamps, keys, settings, schema."""

from __future__ import annotations

import gzip
import sqlite3
from pathlib import Path

import pytest

from oakdata_server.body import inflate_gzip
from oakdata_server.errors import IngestError
from oakdata_server.keys import generate_key, hashes_match, key_kind, lookup_id
from oakdata_server.ratelimit import RateLimiter, retry_after_header
from oakdata_server.settings import Settings, settings_from_env
from oakdata_server.storage import open_storage
from oakdata_server.storage.schema import SCHEMA_VERSION
from oakdata_server.validation import format_timestamp, parse_timestamp


def test_inflating_stops_one_byte_past_the_limit() -> None:
    body = gzip.compress(b"a" * 10_000)
    assert inflate_gzip(body, 10_000) == b"a" * 10_000
    with pytest.raises(IngestError) as raised:
        inflate_gzip(body, 9_999)
    assert (raised.value.status, raised.value.code) == (413, "decompressed_too_large")


def test_trailing_garbage_after_gzip_is_invalid() -> None:
    with pytest.raises(IngestError) as raised:
        inflate_gzip(gzip.compress(b"{}") + b"junk", 1000)
    assert raised.value.code == "invalid_gzip"


def test_the_rate_limiter_refills_at_its_rate_and_names_the_wait() -> None:
    now = [0.0]
    limiter = RateLimiter(2.0, 2, clock=lambda: now[0])
    assert [limiter.acquire("k") for _ in range(2)] == [0.0, 0.0]
    assert limiter.acquire("k") == pytest.approx(0.5)
    now[0] += 0.5
    assert limiter.acquire("k") == 0.0
    assert limiter.acquire("other") == 0.0
    assert retry_after_header(0.01) == "1"
    assert retry_after_header(2.2) == "3"


def test_a_zero_rate_never_limits() -> None:
    limiter = RateLimiter(0, 1)
    assert all(limiter.acquire("k") == 0.0 for _ in range(1000))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-28T21:31:24.123456Z", "2026-11-28T21:31:24.123456Z"),
        ("2026-11-28T21:31:24Z", "2026-11-28T21:31:24.000000Z"),
        ("2026-11-28t23:31:24.1234567+02:00", "2026-11-28T21:31:24.123456Z"),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000000Z"),
    ],
)
def test_rfc3339_timestamps_are_read_as_utc(text: str, expected: str) -> None:
    moment = parse_timestamp(text)
    assert moment is not None
    assert format_timestamp(moment) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-28",
        "2026-11-28T21:31:24",
        "2026-13-01T00:00:00Z",
        "2026-11-28T24:00:00Z",
        "2026-11-28T21:31:60Z",
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",
        "now",
    ],
)
def test_other_timestamps_are_refused(text: str) -> None:
    assert parse_timestamp(text) is None


def test_keys_carry_their_kind_and_match_only_their_hash() -> None:
    secret, public = generate_key("secret"), generate_key("public")
    assert (key_kind(secret), key_kind(public), key_kind("sk_live_x")) == ("secret", "public", None)
    assert lookup_id(secret) == secret[:16]
    from oakdata_server.keys import hash_key

    assert hashes_match(secret, hash_key(secret))
    assert not hashes_match(secret, hash_key(public))


def test_the_database_holds_key_hashes_never_keys(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path / "k.db"), create=True)
    from oakdata_server.keys import hash_key

    key = generate_key("secret")
    project = storage.create_project("default")
    storage.create_key(project.id, "secret", lookup_id(key), hash_key(key), "k", [])
    storage.close()
    assert key.encode() not in (tmp_path / "k.db").read_bytes()
    wal = tmp_path / "k.db-wal"
    assert not wal.exists() or key.encode() not in wal.read_bytes()


def test_the_schema_is_created_once_and_a_newer_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    open_storage(str(path), create=True).close()
    open_storage(f"sqlite:///{path}").close()  # reopening keeps the file as it is
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()
    with pytest.raises(RuntimeError, match="knows up to"):
        open_storage(str(path))


def test_settings_refuse_limits_below_the_protocols_promise() -> None:
    with pytest.raises(ValueError, match="1 MiB"):
        Settings(max_decompressed_bytes=1000)
    with pytest.raises(ValueError, match="1000"):
        Settings(max_batch_messages=10)
    with pytest.raises(ValueError, match="admin_token"):
        Settings(admin_token="short")


def test_settings_come_from_the_environment_and_hide_the_admin_token() -> None:
    settings = settings_from_env(
        {
            "OAK_SERVER_DB_PATH": "/tmp/x.db",
            "OAK_SERVER_RATE_LIMIT_PER_SECOND": "2.5",
            "OAK_SERVER_ADMIN_TOKEN": "a-very-secret-admin-token",
        },
        rate_limit_burst=7,
    )
    assert (settings.db_path, settings.rate_limit_per_second, settings.rate_limit_burst) == (
        "/tmp/x.db",
        2.5,
        7,
    )
    assert "a-very-secret-admin-token" not in repr(settings)
    with pytest.raises(ValueError, match="OAK_SERVER_MAX_BODY_BYTES"):
        settings_from_env({"OAK_SERVER_MAX_BODY_BYTES": "lots"})
