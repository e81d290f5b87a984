"""A Flask extension: the app's OakClient, and one oakdata.context per request.

    from oakdata.integrations.flask import OakData, client

    oakdata_ext = OakData()

    def create_app():
        app = Flask(__name__)
        oakdata_ext.init_app(app)      # or OakData(app)
        return app

    @app.post("/upgrade")
    def upgrade():
        client().capture(event="plan_upgraded", properties={"plan": "pro"})  # id from the context

init_app makes an OakClient from ``app.config``: OAK_SECRET_KEY and OAK_HOST (None falls
back to $OAK_SECRET_KEY and $OAK_HOST) and OAK_OPTIONS (a dict of the client's other
options), unless a client is passed in. It lives in ``app.extensions["oakdata"]``.

Each request's context carries $current_url (without the query string), $method, $path,
and the id distinct_id() returns (called inside the request). The default reads
Flask-Login's current_user when the app uses Flask-Login, else gives no id. Nothing is
captured by the extension itself.

The client flushes at interpreter exit by itself; under gunicorn, shut it down in the
worker_exit hook (docs/recipes/flask.md).
"""

from __future__ import annotations

import sys

from flask import Flask, current_app, g, request

from .._client import OakClient
from .._context import context
from ._request import request_properties

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    DistinctId = Callable[[], "str | int | None"]

__all__ = ["OakData", "client", "flask_login_user_id"]

EXTENSION_KEY = "oakdata"
_CONTEXT_KEY = "_oakdata_context"


def flask_login_user_id() -> str | int | None:
    """The default: Flask-Login's current_user.get_id() when authenticated, else None.

    Flask-Login is looked up, never imported: an app without it gets no id."""
    flask_login = sys.modules.get("flask_login")
    if flask_login is None:
        return None
    user = flask_login.current_user
    if not getattr(user, "is_authenticated", False):
        return None
    user_id: str | int | None = user.get_id()
    return user_id


def client() -> OakClient:
    """The current app's client (inside an app or request context)."""
    oak: OakClient = current_app.extensions[EXTENSION_KEY]
    return oak


class OakData:
    """Makes the app's client and opens a context per request (see the module)."""

    def __init__(
        self,
        app: Flask | None = None,
        *,
        client: OakClient | None = None,
        distinct_id: DistinctId = flask_login_user_id,
        include_ip: bool = False,
    ) -> None:
        self._client = client
        self.distinct_id = distinct_id
        # Off by default: an IP address is personal data, and behind a proxy remote_addr
        # is the proxy's unless the app uses werkzeug's ProxyFix.
        self.include_ip = include_ip
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> OakClient:
        oak = self._client
        if oak is None:
            # Under gunicorn --preload this runs in the master; each forked worker gets a
            # fresh queue and thread of its own on first use.
            oak = OakClient(
                app.config.get("OAK_SECRET_KEY"),
                host=app.config.get("OAK_HOST"),
                **app.config.get("OAK_OPTIONS", {}),
            )
        app.extensions[EXTENSION_KEY] = oak
        app.before_request(self._open_context)
        app.teardown_request(self._close_context)
        return oak

    def _open_context(self) -> None:
        # The app's function may fail; analytics must not fail the request with it.
        try:
            distinct_id = self.distinct_id()
        except Exception:
            distinct_id = None
        ip = request.remote_addr if self.include_ip else None
        properties = request_properties(
            request.scheme, request.host, request.path, request.method, ip
        )
        opened = context(distinct_id, properties)
        opened.__enter__()
        setattr(g, _CONTEXT_KEY, opened)

    @staticmethod
    def _close_context(exc: BaseException | None) -> None:
        opened: context | None = g.pop(_CONTEXT_KEY, None)
        if opened is not None:
            opened.__exit__(None, None, None)
