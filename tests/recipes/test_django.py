"""Django: the test client in-process, a management command flushed at exit, and gunicorn
--preload with 2 workers forked after the client was made."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

import pytest

from httpbed import HttpBed

from ._gunicorn import serve_requests_then_sigterm
from .conftest import (
    APPS_DIR,
    SECRET_KEY,
    Child,
    assert_received_exactly,
    assert_request_context,
    child_env,
)

REQUESTS = 50


def test_views_capture_in_the_request_context_and_shutdown_delivers_every_event_once(
    bed: HttpBed, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Django is set up once per process: this is the only in-process Django test.
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "recipe_django.settings")
    monkeypatch.setenv("OAK_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("OAK_HOST", bed.url)
    import django
    from django.test import AsyncClient, Client

    django.setup()
    from oakdata.integrations.django import client

    oak = client()
    captured = []
    in_context: dict[str | None, str | None] = {}
    try:
        http = Client()
        for n in range(REQUESTS):
            response = http.post(f"/signup/user_{n}")
            assert response.status_code == 200
            captured.append(response.json()["uuid"])
        for user in ("user_1", "user_2", None):
            headers = {"X-Test-User": user} if user else {}
            response = http.post("/upgrade?email=ada@example.com", headers=headers)
            assert response.status_code == 200
            in_context[user] = response.json()["uuid"]
        # Under ASGI the middleware runs its async form, reading request.user off the loop.
        response = asyncio.run(AsyncClient().post("/upgrade", headers={"X-Test-User": "user_3"}))
        assert response.status_code == 200
        in_context["user_3"] = response.json()["uuid"]
    finally:
        delivered = oak.shutdown(timeout=5)

    assert not delivered, "shutdown() must say that the capture without an id was lost"
    assert in_context.pop(None) is None, "a request with no user and no id must drop its capture"
    assert oak.stats().dropped["invalid_input"] == 1
    assert_received_exactly(bed, captured + list(in_context.values()))
    by_uuid = {m["uuid"]: m for m in bed.messages}
    for user, uuid in in_context.items():
        assert_request_context(by_uuid[uuid], user, "http://testserver/upgrade", "/upgrade")
        assert by_uuid[uuid]["properties"]["plan"] == "pro"
    # the signups, with their explicit ids, still carry the request they were made in
    assert {by_uuid[u]["properties"]["$path"] for u in captured} == {
        f"/signup/user_{n}" for n in range(REQUESTS)
    }


def test_a_management_command_delivers_its_events_at_exit(
    bed: HttpBed, spawn: Callable[..., Child]
) -> None:
    command = spawn(
        [
            sys.executable,
            "-m",
            "django",
            "signup_batch",
            "30",
            "--settings",
            "recipe_django.settings",
        ],
        child_env(bed),
    )

    assert command.wait_exit() == 0, command.output()
    captured = [line.split()[1] for line in command.lines_matching("captured ", "stdout")]
    assert len(captured) == 30
    assert_received_exactly(bed, captured)


def test_gunicorn_preload_workers_each_deliver_their_events_once(
    bed: HttpBed, spawn: Callable[..., Child]
) -> None:
    captured, _ = serve_requests_then_sigterm(
        bed,
        spawn,
        "recipe_django.wsgi:application",
        APPS_DIR / "gunicorn_django.conf.py",
        path="/signup/user_{n}",
    )

    assert_received_exactly(bed, captured)
