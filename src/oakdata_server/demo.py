"""`python -m oakdata_server.demo`: one person, seen by a browser and a back end, one timeline.

A browser (public key, an anonymous id, a clock five minutes slow) and a back end (the SDK,
secret key) report on the same visitor, who browses, signs up, upgrades and pays. The server
stitches it all into one timeline, printed at the end.

With `--serve`, the server then keeps running beside an example site (oak.js in its page, the
SDK in its back end) until Ctrl-C, and the console's address and admin token are printed, so
a person can click through the site and watch the events arrive.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import threading
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

from oakdata_server.app import create_app
from oakdata_server.example_site import site_app
from oakdata_server.keys import KeyKind, generate_key, hash_key, lookup_id
from oakdata_server.render import render_timeline
from oakdata_server.runner import ServerThread
from oakdata_server.settings import Settings
from oakdata_server.storage import Storage, open_storage

APP_ORIGIN = "http://localhost:3000"
BROWSER_CLOCK_ERROR = timedelta(minutes=-5)  # the visitor's laptop clock is 5 minutes slow


class Browser:
    """What a browser SDK does: preflight once, then POST JSON with a public key and Origin."""

    def __init__(self, url: str, public_key: str) -> None:
        self._url = f"{url}/api/oak/ingest"
        self._key = public_key
        self._http = httpx.Client(timeout=10.0, headers={"Origin": APP_ORIGIN})
        self.anonymous_id = f"anon-{uuid.uuid4().hex[:8]}"
        preflight = self._http.options(
            self._url,
            headers={
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        preflight.raise_for_status()

    def _clock(self) -> str:
        moment = datetime.now(timezone.utc) + BROWSER_CLOCK_ERROR
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def send(self, kind: str, **fields: Any) -> None:
        message = {"type": kind, "uuid": str(uuid.uuid4()), "timestamp": self._clock(), **fields}
        response = self._http.post(
            self._url,
            content=json.dumps({"batch": [message], "sent_at": self._clock()}),
            headers={"Authorization": f"Bearer {self._key}", "Content-Type": "application/json"},
        )
        response.raise_for_status()
        if response.json()["rejected"]:
            raise RuntimeError(f"the server rejected a browser message: {response.text}")

    def pageview(self, distinct_id: str, path: str) -> None:
        self.send(
            "capture",
            distinct_id=distinct_id,
            event="$pageview",
            properties={"$lib": "oakdata-js", "path": path},
        )

    def close(self) -> None:
        self._http.close()


def play_story(url: str, secret_key: str, public_key: str) -> list[str]:
    """Send the story; returns the ids the person ended up with."""
    from oakdata import OakClient

    browser = Browser(url, public_key)
    backend = OakClient(secret_key, host=url, flush_at=1, flush_interval=0)
    user_id, customer_id = "user_42", "cus_Q8x2Lr"
    try:
        _say("browser", f"anonymous visitor {browser.anonymous_id} looks around")
        browser.pageview(browser.anonymous_id, "/")
        browser.pageview(browser.anonymous_id, "/pricing")
        browser.pageview(browser.anonymous_id, "/signup")

        _say("back end", f"creates the account {user_id}")
        backend.capture(user_id, "user_signed_up", {"plan": "free", "source": "pricing"})
        backend.identify(user_id, {"email": "ada@example.com", "plan": "free"})
        _flush(backend)

        _say("browser", "the signed-in page identifies the visitor, anonymous id attached")
        browser.send(
            "identify",
            distinct_id=user_id,
            properties={"$anon_distinct_id": browser.anonymous_id, "name": "Ada"},
        )
        browser.pageview(user_id, "/settings/billing")

        _say("back end", "upgrades the plan; the billing system knows the customer id only")
        backend.group_identify("company", "acme", {"name": "Acme Inc.", "seats": 12})
        backend.capture(
            user_id,
            "plan_upgraded",
            {"from": "free", "to": "pro", "mrr": 49},
            groups={"company": "acme"},
        )
        backend.identify(user_id, {"plan": "pro"})
        backend.alias(user_id, customer_id)
        _flush(backend)
        backend.capture(
            customer_id,
            "payment_succeeded",
            {"amount": 49, "currency": "EUR"},
            groups={"company": "acme"},
        )
    finally:
        delivered = backend.shutdown(timeout=15.0)
        browser.close()
    if not delivered:
        raise RuntimeError(f"the back end's events were not all delivered: {backend.stats()}")
    return [browser.anonymous_id, user_id, customer_id]


def _flush(client: Any) -> None:
    # The story's order matters for the reader, so each step lands before the next begins.
    if not client.flush(timeout=10.0):
        raise RuntimeError("the back end could not deliver its events")


def _say(who: str, what: str) -> None:
    print(f"  [{who:>8}] {what}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m oakdata_server.demo")
    parser.add_argument(
        "--serve",
        action="store_true",
        help="after the story, keep the server, its console and an example site running",
    )
    parser.add_argument("--port", type=int, default=0, help="the server's port (default: any)")
    args = parser.parse_args(argv)
    same: list[bool] = []
    with tempfile.TemporaryDirectory(prefix="oakdata-demo-") as directory:
        db_path = str(Path(directory) / "oakdata.db")
        admin_token = secrets.token_urlsafe(24)
        storage = open_storage(db_path, create=True)
        secret_key = _create_key(storage, "secret", "back end")
        public_key = _create_key(storage, "public", "web app", APP_ORIGIN)
        settings = Settings(db_path=db_path, admin_token=admin_token)
        app = create_app(settings, storage)
        try:
            with ServerThread(app, settings=settings, port=args.port) as server:
                print(f"OakData server on {server.url} (SQLite {db_path})")
                print(
                    f"Keys: secret {lookup_id(secret_key)}..., public {lookup_id(public_key)}..."
                    f" for {APP_ORIGIN}\n"
                )
                same = _story_and_timeline(server.url, admin_token, secret_key, public_key)
                if args.serve:
                    _serve_example(server.url, storage, secret_key, admin_token)
            print("Server stopped.")
        finally:
            storage.close()
    return 0 if same and all(same) else 1


def _create_key(storage: Storage, kind: KeyKind, name: str, origin: str | None = None) -> str:
    project = storage.create_project("default")
    key = generate_key(kind)
    origins = [origin] if origin else []
    storage.create_key(project.id, kind, lookup_id(key), hash_key(key), name, origins)
    return key


def _story_and_timeline(url: str, admin_token: str, secret_key: str, public_key: str) -> list[bool]:
    print("The story:")
    ids = play_story(url, secret_key, public_key)
    headers = {"Authorization": f"Bearer {admin_token}"}
    response = httpx.get(f"{url}/api/oak/persons/{ids[0]}/timeline", headers=headers, timeout=10)
    response.raise_for_status()
    timeline = response.json()
    print("\nOne stitched timeline, asked for by the anonymous id:\n")
    print(render_timeline(timeline))
    same = [
        httpx.get(f"{url}/api/oak/persons/{other}/timeline", headers=headers, timeout=10).json()[
            "events"
        ]
        == timeline["events"]
        for other in ids[1:]
    ]
    print(f"\nThe same timeline from {ids[1]!r} and {ids[2]!r}: {all(same)}")
    print("(The browser's clock was 5 minutes slow; its events were put back in place")
    print(" using the sent_at of each request.)")
    return same


def _serve_example(url: str, storage: Storage, secret_key: str, admin_token: str) -> None:
    """The example site on another port, with a public key for its origin, until Ctrl-C."""
    settings: dict[str, str] = {}
    site, backend = site_app(url, secret_key, settings)
    site_thread = ServerThread(site)  # bound here, so its origin is known for the key
    settings["public_key"] = _create_key(storage, "public", "example site", site_thread.url)
    with site_thread:
        print(f"\nThe console:      {url}/  (admin token: {admin_token})")
        print(f"An example site:  {site_thread.url}/  (oak.js, and a back end with the SDK)")
        print("Click around the site, then watch Live events and Persons. Ctrl-C stops both.")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print()
        finally:
            backend.shutdown(timeout=5.0)


if __name__ == "__main__":
    sys.exit(main())
