"""OakData's server-side SDK: capture trusted events from Python back ends.

from oakdata import OakClient

oak = OakClient()  # the secret key comes from $OAK_SECRET_KEY
oak.capture("user_123", "plan_upgraded", {"plan": "pro"})
oak.shutdown()
"""

from ._client import OakClient
from ._stats import DROP_REASONS, Stats
from ._version import __version__

__all__ = ["DROP_REASONS", "OakClient", "Stats", "__version__"]
