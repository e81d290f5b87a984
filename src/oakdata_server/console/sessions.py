"""Console sign-in sessions: random ids in an HttpOnly, SameSite=Strict cookie, kept in memory.

In memory on purpose: the server is one process, a restart signing everyone out is harmless,
and nothing about a session is ever written to disk. Each session carries its own CSRF token,
put in every form and compared on every POST.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

COOKIE_NAME = "oak_console"
LIFETIME_SECONDS = 12 * 3600
MAX_SESSIONS = 1000  # the oldest is signed out beyond this: memory stays bounded


@dataclass(frozen=True)
class Session:
    id: str
    csrf_token: str
    expires_at: float  # on the monotonic clock

    def csrf_matches(self, token: str | None) -> bool:
        return token is not None and same_secret(token, self.csrf_token)


def same_secret(given: str, expected: str) -> bool:
    """Compared in constant time, so the time taken says nothing about the secret."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode())


class Sessions:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def create(self) -> Session:
        session = Session(
            secrets.token_urlsafe(32), secrets.token_urlsafe(32), self._clock() + LIFETIME_SECONDS
        )
        self._sessions[session.id] = session
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return session

    def find(self, session_id: str | None) -> Session | None:
        session = self._sessions.get(session_id or "")
        if session is None:
            return None
        if session.expires_at <= self._clock():
            del self._sessions[session.id]
            return None
        return session

    def end(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)
