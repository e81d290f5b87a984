"""The real ingest server for reliability runs: restartable on the same port and SQLite file.

``oakdata_server.runner.ServerThread`` binds port 0 each time, and a restart must come back on
the port the client already knows, so this binds a given port (``SO_REUSEADDR``, so the old
connections in TIME_WAIT do not block it). Every (re)start builds a new app and a new
``open_storage`` on the same file, as a restarted process would.

What was stored is read from the SQLite file with a separate connection, not through the server.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from engines import stored_event_uuids, stored_message_uuids
from oakdata_server.app import create_app
from oakdata_server.connections import uvicorn_config
from oakdata_server.keys import generate_key, hash_key, lookup_id
from oakdata_server.settings import Settings
from oakdata_server.storage import Storage, open_storage

STARTUP_TIMEOUT_SECONDS = 10.0
ALLOWED_ORIGIN = "https://app.example.com"


class IngestServer:
    """``with IngestServer(db_path) as server:`` serves on ``server.url`` until the block ends."""

    def __init__(self, db_path: Path | str, port: int = 0, **settings: Any) -> None:
        self.db_path = db_path  # a SQLite file or any URL open_storage takes
        settings.setdefault("rate_limit_per_second", 0)
        self._settings = Settings(db_path=str(self.db_path), **settings)
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.storage: Storage | None = None
        self.secret_key = ""
        self.public_key = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ingest_url(self) -> str:
        return f"{self.url}/api/oak/ingest"

    def start(self) -> IngestServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        self._socket = sock
        self.storage = open_storage(str(self.db_path), create=True)
        if not self.secret_key:
            self.secret_key = self.new_key("secret")
            self.public_key = self.new_key("public", (ALLOWED_ORIGIN,))
        app = create_app(self._settings, self.storage)
        config = uvicorn_config(app, self._settings, log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            daemon=True,
            name="oakdata-reliability-server",
        )
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("The server did not start.")
            time.sleep(0.01)  # polling the flag uvicorn sets; it offers no event to wait on
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=STARTUP_TIMEOUT_SECONDS)
        if self._socket is not None:
            self._socket.close()
        if self.storage is not None:
            self.storage.close()
        self._server = self._thread = self._socket = None
        self.storage = None

    def new_key(self, kind: str = "secret", origins: tuple[str, ...] = ()) -> str:
        assert self.storage is not None, "the server is not running"
        project = self.storage.create_project("default")
        key = generate_key(kind)
        self.storage.create_key(project.id, kind, lookup_id(key), hash_key(key), "test", origins)
        return key

    def revoke(self, key: str) -> bool:
        assert self.storage is not None, "the server is not running"
        return self.storage.revoke_key(lookup_id(key))

    def __enter__(self) -> IngestServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# Where the tests read what was stored, on any engine (tests/engines.py).
__all__ = ["IngestServer", "stored_event_uuids", "stored_message_uuids"]
