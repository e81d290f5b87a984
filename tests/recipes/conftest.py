"""Helpers for the recipe tests: child processes that are always stopped, ports, and the
one assertion every recipe makes, that the server received exactly what was captured."""

from __future__ import annotations

import collections
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from httpbed import HttpBed

APPS_DIR = Path(__file__).parent / "apps"
SECRET_KEY = "oak_sec_recipes_test"
WAIT_SECONDS = 30.0

# The in-process recipe tests import their app modules from apps/, as a user's code would
# import its own; child processes get the same folder on PYTHONPATH.
sys.path.insert(0, str(APPS_DIR))


@pytest.fixture(autouse=True)
def _no_ambient_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's own OAK_* variables must not decide where a recipe sends."""
    monkeypatch.delenv("OAK_SECRET_KEY", raising=False)
    monkeypatch.delenv("OAK_HOST", raising=False)


def assert_received_exactly(bed: HttpBed, captured: Iterable[str | None]) -> None:
    """Every captured uuid reached the server once: no loss, no duplicate, nothing else."""
    captured = list(captured)
    assert None not in captured, "a capture call dropped its event"
    assert len(set(captured)) == len(captured), "the test captured a uuid twice"
    received = collections.Counter(bed.uuids())
    duplicates = {uuid: n for uuid, n in received.items() if n > 1}
    assert not duplicates, f"{len(duplicates)} event(s) arrived more than once"
    missing = set(captured) - set(received)
    unexpected = set(received) - set(captured)
    assert not missing, f"{len(missing)} of {len(captured)} captured event(s) never arrived"
    assert not unexpected, f"{len(unexpected)} event(s) arrived that were never captured"
    failed = [r.status for r in bed.requests if not r.delivered]
    assert not failed, f"requests not answered 2xx: {failed}"


def assert_request_context(
    message: dict[str, object], user: str | None, url: str, path: str, method: str = "POST"
) -> None:
    """The message carries what an integration's request context gives: the user's id, the
    URL without its query string, the method and path, and no IP address (not asked for)."""
    assert message["distinct_id"] == user
    properties = message["properties"]
    assert isinstance(properties, dict)
    assert properties["$current_url"] == url
    assert (properties["$method"], properties["$path"]) == (method, path)
    assert "$ip" not in properties


def wait_for_port(port: int, timeout: float = WAIT_SECONDS) -> None:
    """Until 127.0.0.1:port accepts a connection; each attempt is itself bounded."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing accepted connections on port {port}") from None
            # a refused connect returns at once: pace the retries on a timed wait
            threading.Event().wait(0.05)


class Child:
    """A subprocess whose stdout and stderr lines are collected as they come.

    Conditions on its output are waited for with a threading.Condition, never a sleep.
    """

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
        self.args = args
        self._cond = threading.Condition()
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.proc = subprocess.Popen(
            args,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            start_new_session=True,  # its own group: stop() can reach its children too
        )
        self._readers = [
            threading.Thread(target=self._read, args=(stream, sink), daemon=True)
            for stream, sink in ((self.proc.stdout, self.stdout), (self.proc.stderr, self.stderr))
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream, sink: list[str]) -> None:  # type: ignore[no-untyped-def]
        for line in stream:
            with self._cond:
                sink.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for(
        self, predicate: Callable[[], bool], what: str, timeout: float = WAIT_SECONDS
    ) -> None:
        """Until predicate() holds (it reads self.stdout / self.stderr); fail on exit."""

        def done() -> bool:
            return predicate() or self.proc.poll() is not None

        with self._cond:
            self._cond.wait_for(done, timeout)
            if predicate():
                return
        raise AssertionError(
            f"{what}: not seen within {timeout}s (exit code {self.proc.poll()})\n" + self.output()
        )

    def lines_matching(self, text: str, stream: str = "both") -> list[str]:
        with self._cond:
            lines = {"stdout": self.stdout, "stderr": self.stderr}.get(
                stream, self.stdout + self.stderr
            )
            return [line for line in lines if text in line]

    def output(self) -> str:
        with self._cond:
            return (
                "--- stdout\n"
                + "\n".join(self.stdout[-60:])
                + "\n--- stderr\n"
                + "\n".join(self.stderr[-60:])
            )

    def listening_port(self, text: str, what: str) -> int:
        """The port in the first line containing text and "http://127.0.0.1:<port>".

        Servers bind port 0 and say which port they got: no window in which another process
        could take a port chosen in advance."""
        pattern = re.compile(re.escape(text) + r".*http://127\.0\.0\.1:(\d+)")

        def found() -> re.Match[str] | None:
            for line in self.lines_matching(text):
                if match := pattern.search(line):
                    return match
            return None

        self.wait_for(lambda: found() is not None, what)
        match = found()
        assert match is not None
        return int(match.group(1))

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait_exit(self, timeout: float = WAIT_SECONDS) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"did not exit within {timeout}s\n{self.output()}") from None
        for reader in self._readers:
            reader.join(timeout=5)
        return code

    def stop(self) -> None:
        """Always called in a finally: SIGKILL the whole group (the leader and any worker
        it left behind) if anything is left."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        for reader in self._readers:
            reader.join(timeout=5)


def child_env(bed: HttpBed, **extra: str) -> dict[str, str]:
    """The environment a recipe's process gets: the key and host the recipes read."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OAK_")}
    env.update(
        OAK_SECRET_KEY=SECRET_KEY,
        OAK_HOST=bed.url,
        # The apps, then whatever the test run had (a source checkout's src/ when oakdata
        # is not installed in the environment).
        PYTHONPATH=os.pathsep.join(filter(None, [str(APPS_DIR), os.environ.get("PYTHONPATH")])),
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


@pytest.fixture
def spawn() -> Iterator[Callable[..., Child]]:
    """spawn(args, env, cwd=None) -> a Child, killed after the test whatever happened."""
    children: list[Child] = []

    def start(args: list[str], env: dict[str, str], cwd: Path | None = None) -> Child:
        child = Child(args, env, cwd)
        children.append(child)
        return child

    try:
        yield start
    finally:
        for child in children:
            child.stop()
