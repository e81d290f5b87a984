"""OakData's server-side SDK: capture trusted events from Python back ends.

from oakdata import OakClient

oak = OakClient()  # the secret key comes from $OAK_SECRET_KEY
oak.capture("user_123", "plan_upgraded", {"plan": "pro"})
oak.shutdown()
"""

from __future__ import annotations

from ._client import OakClient
from ._context import context
from ._notify import DropReport
from ._stats import DROP_REASONS, Stats
from ._version import __version__

TYPE_CHECKING = False  # typing costs milliseconds to import; only type checkers need it
if TYPE_CHECKING:
    from ._async_client import AsyncOakClient

__all__ = [
    "DROP_REASONS",
    "AsyncOakClient",
    "DropReport",
    "OakClient",
    "Stats",
    "__version__",
    "context",
]


def __getattr__(name: str) -> object:
    # asyncio costs tens of milliseconds to import; only asyncio apps should pay for it.
    if name == "AsyncOakClient":
        from ._async_client import AsyncOakClient

        return AsyncOakClient
    raise AttributeError(f"module 'oakdata' has no attribute {name!r}")
