"""Talking to the sink's control endpoints (reset, stats) from the driver or a workload."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit


class SinkControl:
    def __init__(self, host: str, timeout: float = 10.0) -> None:
        parts = urlsplit(host)
        self._address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._timeout = timeout

    def reset(self, mode: str = "up", *, latency: float = 0.0, target: int = 0) -> None:
        settings = {"mode": mode, "latency": latency, "target": target}
        self._call("POST", "/_oakbench/reset", json.dumps(settings).encode())

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self._call("GET", "/_oakbench/stats", None))
        return result

    def _call(self, method: str, path: str, body: bytes | None) -> bytes:
        connection = http.client.HTTPConnection(*self._address, timeout=self._timeout)
        try:
            headers = {"Connection": "close", "Content-Type": "application/json"}
            connection.request(method, path, body=body, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
            if answer.status != 200:
                raise RuntimeError(f"sink control {path} answered {answer.status}")
            return data
        finally:
            connection.close()
