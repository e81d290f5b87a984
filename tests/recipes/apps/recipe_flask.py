"""The Flask recipe (docs/recipes/flask.md): the OakData extension makes the client from
app.config and opens a context per request; views capture through client()."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request

from oakdata.integrations.flask import OakData, client

bp = Blueprint("signup", __name__)


def user_from_token() -> str | None:
    # Stands in for the app's authentication (Flask-Login's current_user is the default).
    return request.headers.get("X-Test-User")


oakdata_ext = OakData(distinct_id=user_from_token)


@bp.post("/signup/<user_id>")
def signup(user_id: str) -> Any:
    uuid = client().capture(user_id, "signed_up", {"plan": "free"})
    return jsonify(
        uuid=uuid, pid=os.getpid(), client_made_in=current_app.extensions["oakdata_made_in_pid"]
    )


@bp.post("/upgrade")
def upgrade() -> Any:
    # No id: the request's context gives the signed-in user's, and the request's URL.
    uuid = client().capture(event="plan_upgraded", properties={"plan": "pro"})
    return jsonify(uuid=uuid)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(config or {})
    # Under gunicorn --preload this runs in the master; each worker forked from it gets a
    # fresh queue and thread of its own.
    oakdata_ext.init_app(app)
    app.extensions["oakdata_made_in_pid"] = os.getpid()  # for the tests: where it was made
    app.register_blueprint(bp)
    return app
