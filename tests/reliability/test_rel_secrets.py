"""The secret key and property values never leak: every log record, repr and exception is scanned.

tests/sdk/test_logging.py covers the SDK's own records against the scripted bed. This runs the
real server behind the fault proxy through every failure mode at once (401 from a revoked key,
403, 500s until retries run out, timeouts, resets, lost answers, a refused port, bad
configuration) with debug on, for both clients, and scans everything any logger (the SDK's,
the server's, uvicorn's) emitted, what reached stderr, every repr of the public objects
involved and every exception message with its chain.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import pytest

from oakdata import AsyncOakClient, OakClient
from oakdata.testing import MemoryTransport
from oakdata.transports import NetworkError, Request, Response
from oakdata.transports.http import HttpTransport

from .faultproxy import (
    FaultProxy,
    Forward,
    Inject,
    LoseResponse,
    Plan,
    ResetBeforeForwarding,
    Stall,
)
from .ingest import IngestServer

SENTINEL = "Sentinel-Property-Value-5f1d0c"
LOGGERS = ("", "oakdata", "oakdata_server", "uvicorn", "uvicorn.error", "uvicorn.access", "asyncio")


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def render(record: logging.LogRecord) -> str:
    """Everything a handler could write: message, args, exception and stack."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(
        [
            formatter.format(record),
            repr(record.msg),
            repr(record.args),
            repr(record.exc_info),
            str(getattr(record, "stack_info", "")),
        ]
    )


def exception_texts(exc: BaseException) -> list[str]:
    texts = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args)]
        current = current.__cause__ or current.__context__
    return texts


class RecordingTransport:
    """The real http.client transport, keeping the repr of each request and outcome."""

    def __init__(self, reprs: list[str]) -> None:
        self._inner = HttpTransport()
        self._reprs = reprs

    def send(self, request: Request) -> Response | NetworkError:
        outcome = self._inner.send(request)
        self._reprs += [repr(request), repr(outcome), repr(self._inner)]
        return outcome

    def close(self) -> None:
        self._inner.close()

    def reset_after_fork(self) -> None:
        self._inner.reset_after_fork()


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


def failure_plans() -> dict[str, Plan]:
    return {
        "403": lambda n: Inject(403),
        "500s": lambda n: Inject(500),
        "timeouts": lambda n: Stall(2.0),
        "resets": lambda n: ResetBeforeForwarding(),
        "lost answers": lambda n: LoseResponse() if n % 2 == 0 else Forward(),
        "429": lambda n: Inject(429, {"Retry-After": "0"}) if n % 2 == 0 else Forward(),
    }


FAST: dict[str, Any] = {
    "flush_interval": 0,
    "max_retries": 1,
    "retry_initial_delay": 0.01,
    "request_timeout": 0.3,
    "debug": True,
}


def workload(client: Any) -> None:
    client.capture("user-1", "signed_up", {"plan": SENTINEL, "nested": {"deep": [SENTINEL]}})
    client.identify("user-1", {"email": SENTINEL})
    client.group_identify("company", "acme", {"name": SENTINEL})
    client.alias("user-1", "user-2")
    client.capture("", "invalid", {"p": SENTINEL})  # dropped as invalid input
    client.capture("user-1", "huge", {"p": SENTINEL * 20_000})  # dropped as too large


def run_sync(url: str, key: str, reprs: list[str]) -> None:
    client = OakClient(key, host=url, transport=RecordingTransport(reprs), **FAST)
    try:
        workload(client)
        client.flush(timeout=10.0)
        reprs += [repr(client), repr(client.stats())]
    finally:
        client.shutdown(timeout=10.0)
    client.capture("user-1", "after_shutdown", {"p": SENTINEL})
    reprs += [repr(client), repr(client.stats())]


def run_async(url: str, key: str, reprs: list[str]) -> None:
    async def run() -> None:
        client = AsyncOakClient(key, host=url, **FAST)
        try:
            workload(client)
            await client.flush(timeout=10.0)
            reprs.extend([repr(client), repr(client.stats())])
        finally:
            await client.shutdown(timeout=10.0)
        reprs.extend([repr(client), repr(client.stats())])

    asyncio.run(run())


# A key the server never issued: ValueErrors are raised before any request.
CONFIG_KEY = "oak_sec_1a2b3c4dKeyBodyThatMustNeverBeEchoed_Q9w8"


def bad_configurations(key: str) -> list[dict[str, Any]]:
    public_looking = "oak_pub_" + key.removeprefix("oak_sec_")
    return [
        {"secret_key": public_looking},
        {"secret_key": key, "host": "ftp://" + key},
        {"secret_key": key, "host": key},
        {"secret_key": key, "flush_at": 0},
        {"secret_key": key, "flush_interval": -1},
        {"secret_key": key, "request_timeout": 0},
        {"secret_key": key, "max_queue_size": 0},
        {"secret_key": key, "ingest_path": "no-slash" + key},
        {"secret_key": key.encode()},
        {"secret_key": key + " " + key},
    ]


@pytest.mark.parametrize("client_kind", ["sync", "async"])
def test_no_log_record_repr_or_exception_of_any_failure_shows_the_key_or_a_property_value(
    tmp_path, client_kind: str, capfd: pytest.CaptureFixture[str]
) -> None:
    collector = Collect()
    loggers = [logging.getLogger(name) for name in LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(collector)
        logger.setLevel(logging.DEBUG)
    reprs: list[str] = []
    run = run_sync if client_kind == "sync" else run_async
    server = IngestServer(tmp_path / "oakdata.db")
    server.start()
    keys: list[str] = []
    try:
        key = server.secret_key
        revoked = server.new_key()
        keys = [key, revoked]
        assert server.revoke(revoked)
        run(server.url, key, reprs)  # a clean run
        run(server.url, revoked, reprs)  # 401
        run(f"http://127.0.0.1:{closed_port()}", key, reprs)  # refused
        for plan in failure_plans().values():
            with FaultProxy(server.port, plan) as proxy:
                run(proxy.url, key, reprs)
                reprs.append(repr(proxy))
        memory = MemoryTransport(status=500)
        client = OakClient(key, transport=memory, **FAST)
        workload(client)
        client.shutdown(timeout=5.0)
        reprs += [repr(memory), repr(client)]
        reprs += [repr(request) for request in memory.requests]  # bodies are the user's own
    finally:
        server.stop()
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(collector)
            logger.setLevel(level)
    out, err = capfd.readouterr()
    texts = {"stdout+stderr": out + err}
    texts.update({f"log {i}": render(r) for i, r in enumerate(collector.records)})
    texts.update({f"repr {i}": text for i, text in enumerate(reprs)})
    # Something must have been said at every level, or the scan proves little.
    oak_levels = {r.levelno for r in collector.records if r.name.startswith("oakdata")}
    assert {logging.DEBUG, logging.WARNING, logging.ERROR} <= oak_levels
    secrets = [k.removeprefix("oak_sec_") for k in keys]
    for where, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"the secret key shows in {where}: {text[:300]}"
        if where.startswith("repr") and "RecordedRequest" in text:
            continue  # MemoryTransport hands the user's own bodies back: that is its purpose
        assert SENTINEL not in text, f"a property value shows in {where}: {text[:300]}"


@pytest.mark.parametrize("cls", [OakClient, AsyncOakClient], ids=["sync", "async"])
@pytest.mark.parametrize(
    "options",
    [
        *bad_configurations(CONFIG_KEY),
        # The arguments swapped, and a URL with credentials in it: both put a secret in host.
        {"secret_key": "https://oakdata.co", "host": CONFIG_KEY},
        {"secret_key": CONFIG_KEY, "host": f"https://user:{CONFIG_KEY}@oakdata.example.com"},
    ],
    ids=[
        "public-key",
        "key-in-ftp-host",
        "key-as-host",
        "flush_at-0",
        "negative-flush_interval",
        "zero-request_timeout",
        "zero-max_queue_size",
        "key-in-ingest_path",
        "key-as-bytes",
        "two-keys-with-a-space",
        "arguments-swapped",
        "credentials-in-host",
    ],
)
def test_a_configuration_error_never_echoes_the_key(cls: type, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"\S") as raised:
        cls(**options)
    secret = CONFIG_KEY.removeprefix("oak_sec_")
    for text in exception_texts(raised.value):
        assert secret not in text, text
