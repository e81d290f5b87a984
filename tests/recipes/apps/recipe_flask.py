"""The Flask recipe (docs/recipes/flask.md): the app factory makes the client and keeps it
in app.extensions; views reach it through current_app."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify

from oakdata import OakClient

bp = Blueprint("signup", __name__)


def init_oakdata(app: Flask) -> OakClient:
    # None falls back to $OAK_SECRET_KEY / $OAK_HOST. Under gunicorn --preload this runs
    # in the master; each worker forked from it gets a fresh queue and thread of its own.
    oak = OakClient(
        app.config.get("OAK_SECRET_KEY"),
        host=app.config.get("OAK_HOST"),
        **app.config.get("OAK_OPTIONS", {}),
    )
    app.extensions["oakdata"] = oak
    app.extensions["oakdata_made_in_pid"] = os.getpid()  # for the tests: where it was made
    return oak


def analytics() -> OakClient:
    client: OakClient = current_app.extensions["oakdata"]
    return client


@bp.post("/signup/<user_id>")
def signup(user_id: str) -> Any:
    uuid = analytics().capture(user_id, "signed_up", {"plan": "free"})
    return jsonify(
        uuid=uuid, pid=os.getpid(), client_made_in=current_app.extensions["oakdata_made_in_pid"]
    )


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(config or {})
    init_oakdata(app)
    app.register_blueprint(bp)
    return app
