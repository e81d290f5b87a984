"""Flask: with its test client in-process, and under gunicorn --preload with 2 workers."""

from __future__ import annotations

from collections.abc import Callable

from recipe_flask import create_app

from httpbed import HttpBed

from ._gunicorn import serve_requests_then_sigterm
from .conftest import APPS_DIR, SECRET_KEY, Child, assert_received_exactly

REQUESTS = 50


def test_views_capture_and_shutdown_delivers_every_event_once(bed: HttpBed) -> None:
    app = create_app(
        {"OAK_SECRET_KEY": SECRET_KEY, "OAK_HOST": bed.url,
         "OAK_OPTIONS": {"flush_interval": 0, "flush_at": 1000}}
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


def test_gunicorn_preload_workers_each_deliver_their_events_once(
    bed: HttpBed, spawn: Callable[..., Child]
) -> None:
    captured, _ = serve_requests_then_sigterm(
        bed, spawn, "recipe_flask:create_app()", APPS_DIR / "gunicorn_flask.conf.py"
    )

    assert_received_exactly(bed, captured)
