"""Process-wide hooks: flushing at exit, and renewing clients after fork.

Clients are held weakly, so registering here never keeps a discarded client alive.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
import weakref

from . import _ids

# The exit hook's whole budget, shared by every client still open: a process must not
# hang at exit because the analytics server is unreachable.
ATEXIT_TIMEOUT = 5.0

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

    class _Client(Protocol):
        def _exit_flush(self, timeout: float) -> None: ...

        def _reset_after_fork(self) -> None: ...


_clients: weakref.WeakSet[_Client] = weakref.WeakSet()
_clients_lock = threading.Lock()


def register(client: _Client) -> None:
    with _clients_lock:
        _clients.add(client)


def _open_clients() -> list[_Client]:
    with _clients_lock:
        return list(_clients)


def _flush_at_exit() -> None:
    deadline = time.monotonic() + ATEXIT_TIMEOUT
    for client in _open_clients():
        client._exit_flush(max(0.0, deadline - time.monotonic()))


def _after_fork_in_child() -> None:
    global _clients_lock  # noqa: PLW0603 - the parent's lock may have been held at the fork
    _clients_lock = threading.Lock()
    _ids.reseed()
    for client in list(_clients):
        client._reset_after_fork()


atexit.register(_flush_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
