"""A real oakdata server under uvicorn on 127.0.0.1, with a real SQLite file, per module;
on every engine in the modules that say EVERY_ENGINE = True (tests/engines.py)."""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from engines import engine_url
from oakdata_server.app import create_app
from oakdata_server.keys import generate_key, hash_key, lookup_id
from oakdata_server.runner import ServerThread
from oakdata_server.settings import Settings
from oakdata_server.storage import Storage, open_storage
from oakdata_server.validation import ValidMessage, validate_batch

ADMIN_TOKEN = "admin-token-for-tests-0123456789"
ALLOWED_ORIGIN = "https://app.example.com"


@dataclass
class RunningServer:
    url: str
    db_path: Path  # SQLite's file; tests/engines.py reads any engine by storage_url
    storage: Storage
    secret_key: str
    public_key: str
    storage_url: str = ""

    @property
    def ingest_url(self) -> str:
        return f"{self.url}/api/oak/ingest"

    def new_key(self, kind: str = "secret", origins: tuple[str, ...] = ()) -> str:
        return create_key(self.storage, kind, origins)


def create_key(storage: Storage, kind: str, origins: tuple[str, ...] = ()) -> str:
    project = storage.create_project("default")
    key = generate_key("secret" if kind == "secret" else "public")
    storage.create_key(
        project.id,
        "secret" if kind == "secret" else "public",
        lookup_id(key),
        hash_key(key),
        "test",
        origins,
    )
    return key


def start_server(
    db_path: Path | str, storage: Storage | None = None, **settings: Any
) -> tuple[ServerThread, RunningServer]:
    """A server on the database at `db_path`, or on `storage` when given (opened elsewhere,
    as the current ClickHouse in-process of tests/engines.py)."""
    storage = storage or open_storage(str(db_path), create=True)
    settings.setdefault("admin_token", ADMIN_TOKEN)
    settings.setdefault("rate_limit_per_second", 0)  # limits are tested on their own server
    config = Settings(db_path=str(db_path), **settings)
    thread = ServerThread(create_app(config, storage), settings=config)
    thread.start()
    running = RunningServer(
        thread.url,
        Path(db_path),
        storage,
        create_key(storage, "secret"),
        create_key(storage, "public", (ALLOWED_ORIGIN,)),
        str(db_path),
    )
    return thread, running


@pytest.fixture(scope="module")
def storage_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    engine = getattr(request, "param", "sqlite")
    with engine_url(engine, tmp_path_factory.mktemp(engine)) as url:
        yield url


@pytest.fixture(scope="module")
def server(storage_url: str) -> Iterator[RunningServer]:
    thread, running = start_server(storage_url)
    yield running
    thread.stop()
    running.storage.close()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as client:
        yield client


def now_rfc3339(moment: datetime | None = None) -> str:
    moment = moment or datetime.now(timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def message(kind: str = "capture", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"type": kind, "uuid": str(uuid.uuid4()), "timestamp": now_rfc3339()}
    if kind == "capture":
        base.update(distinct_id="user-1", event="clicked", properties={"$lib": "tests"})
    elif kind == "identify":
        base.update(distinct_id="user-1", properties={})
    elif kind == "alias":
        base.update(distinct_id="user-1", alias="user-2")
    else:
        base.update(group_type="company", group_key="acme", properties={})
    base.update(fields)
    return base


def valid(*messages: dict[str, Any]) -> list[ValidMessage]:
    """`messages` as the ingest endpoint hands them to storage (each must be valid)."""
    checked, rejected = validate_batch(list(messages), None, datetime.now(timezone.utc))
    assert not rejected
    return [m for _, m in checked]


def post_batch(
    http: httpx.Client,
    server: RunningServer,
    batch: list[Any],
    *,
    key: str | None = None,
    sent_at: str | None = None,
    origin: str | None = None,
    compress: bool = True,
) -> httpx.Response:
    envelope = {"batch": batch, "sent_at": sent_at or now_rfc3339()}
    body = json.dumps(envelope).encode()
    headers = {
        "Authorization": f"Bearer {key or server.secret_key}",
        "Content-Type": "application/json",
    }
    if compress:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    if origin is not None:
        headers["Origin"] = origin
    return http.post(server.ingest_url, content=body, headers=headers)


def timeline(
    http: httpx.Client, server: RunningServer, distinct_id: str, **params: Any
) -> httpx.Response:
    return http.get(
        f"{server.url}/api/oak/persons/{distinct_id}/timeline",
        params=params,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )


def stored_rows(db_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables that hold data, read with a separate connection."""
    import sqlite3

    connection = sqlite3.connect(db_path)
    try:
        return {
            table: connection.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            for table in ("events", "messages", "api_keys", "projects")
        }
    finally:
        connection.close()
