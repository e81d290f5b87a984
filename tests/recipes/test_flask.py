"""Flask: with its test client in-process, and under gunicorn --preload with 2 workers."""

from __future__ import annotations

from collections.abc import Callable

from recipe_flask import create_app

from httpbed import HttpBed

from ._gunicorn import serve_requests_then_sigterm
from .conftest import (
    APPS_DIR,
    SECRET_KEY,
    Child,
    assert_received_exactly,
    assert_request_context,
)

REQUESTS = 50


def test_views_capture_and_shutdown_delivers_every_event_once(bed: HttpBed) -> None:
    app = create_app(
        {
            "OAK_SECRET_KEY": SECRET_KEY,
            "OAK_HOST": bed.url,
            "OAK_OPTIONS": {"flush_interval": 0, "flush_at": 1000},
        }
    )
    oak = app.extensions["oakdata"]
    captured = []
    try:
        with app.test_client() as http:
            for n in range(REQUESTS):
                response = http.post(f"/signup/user_{n}")
                assert response.status_code == 200
                captured.append(response.get_json()["uuid"])
        assert bed.messages == [], "events held until shutdown left early"
    finally:
        delivered = oak.shutdown(timeout=5)

    assert delivered
    assert_received_exactly(bed, captured)


def test_a_request_context_gives_captures_the_user_and_the_url(bed: HttpBed) -> None:
    app = create_app({"OAK_SECRET_KEY": SECRET_KEY, "OAK_HOST": bed.url})
    oak = app.extensions["oakdata"]
    captured = {}
    try:
        with app.test_client() as http:
            for user in ("user_1", "user_2", None):
                headers = {"X-Test-User": user} if user else {}
                response = http.post("/upgrade?token=secret", headers=headers)
                assert response.status_code == 200
                captured[user] = response.get_json()["uuid"]
    finally:
        delivered = oak.shutdown(timeout=5)

    assert not delivered, "shutdown() must say that the capture without an id was lost"
    assert captured[None] is None, "a request with no user and no id must drop its capture"
    assert oak.stats().dropped["invalid_input"] == 1
    del captured[None]
    assert_received_exactly(bed, captured.values())
    by_uuid = {m["uuid"]: m for m in bed.messages}
    for user, uuid in captured.items():
        assert_request_context(by_uuid[uuid], user, "http://localhost/upgrade", "/upgrade")
        assert by_uuid[uuid]["properties"]["plan"] == "pro"


def test_gunicorn_preload_workers_each_deliver_their_events_once(
    bed: HttpBed, spawn: Callable[..., Child]
) -> None:
    captured, _ = serve_requests_then_sigterm(
        bed, spawn, "recipe_flask:create_app()", APPS_DIR / "gunicorn_flask.conf.py"
    )

    assert_received_exactly(bed, captured)


def test_the_ip_is_added_only_when_asked_and_a_failing_id_function_fails_nothing(
    bed: HttpBed,
) -> None:
    from flask import Flask

    from oakdata import OakClient
    from oakdata.integrations.flask import OakData, client

    def broken_auth() -> str:
        raise RuntimeError("the app's own bug")

    app = Flask(__name__)
    oak = OakClient(SECRET_KEY, host=bed.url, flush_interval=0)
    OakData(app, client=oak, distinct_id=broken_auth, include_ip=True)

    @app.post("/tagged/<user_id>")
    def tagged(user_id: str) -> dict[str, str | None]:
        return {"uuid": client().capture(user_id, "tagged")}

    try:
        with app.test_client() as http:
            response = http.post("/tagged/user_1", environ_base={"REMOTE_ADDR": "203.0.113.9"})
            assert response.status_code == 200
            uuid = response.get_json()["uuid"]
    finally:
        assert oak.shutdown(timeout=5)

    assert_received_exactly(bed, [uuid])
    (message,) = bed.messages
    assert message["distinct_id"] == "user_1"
    assert message["properties"]["$ip"] == "203.0.113.9"
