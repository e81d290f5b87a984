"""Running the app under uvicorn in a background thread: for the demo, the tests and the bench.

The socket is bound here, on port 0, before uvicorn starts, so the port is known and free
without a race between choosing it and binding it.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn
from starlette.applications import Starlette

from oakdata_server.connections import uvicorn_config
from oakdata_server.settings import Settings

STARTUP_TIMEOUT_SECONDS = 10.0


class ServerThread:
    """`with ServerThread(app) as server:` serves on `server.url` until the block ends."""

    def __init__(
        self,
        app: Starlette,
        host: str = "127.0.0.1",
        settings: Settings | None = None,
        port: int = 0,
    ) -> None:
        # proto must be IPPROTO_TCP, not 0: asyncio only sets TCP_NODELAY on sockets that say
        # so, and without it every response waits 40 ms for a delayed ACK.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # A given port lets a stopped server come back where its clients look for it.
        self._socket.bind((host, port))
        self.port: int = self._socket.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        config = uvicorn_config(app, settings or Settings(), log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            daemon=True,
            name="oakdata-server",
        )

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("The server did not start.")
            time.sleep(0.01)  # polling a flag uvicorn sets; it offers no event to wait on

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=STARTUP_TIMEOUT_SECONDS)
        self._socket.close()

    def __enter__(self) -> ServerThread:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
