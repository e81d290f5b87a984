"""Headless Chromium (Debian's package, driven by Playwright) against a real oakdata server
and a customer's site on another origin, both on 127.0.0.1.

Without chromium or playwright the tests skip, saying which is missing; under
OAK_REQUIRE_SERVICES=1 (set by .ci/run) they fail instead, so CI cannot pass by skipping.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from oakdata_server.app import create_app
from oakdata_server.example_site import site_app
from oakdata_server.runner import ServerThread
from oakdata_server.settings import Settings
from oakdata_server.storage import Storage, StoredEvent, open_storage
from server.conftest import ADMIN_TOKEN, create_key

CHROMIUM = os.environ.get("OAK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_SECONDS = 20.0
SCREENSHOTS = Path(os.environ.get("OAK_TEST_OUTPUT", "test-output")) / "browser"


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright; it comes with the test extra)"
    if not (os.access(CHROMIUM, os.X_OK) or shutil.which(CHROMIUM)):
        return f"no chromium at {CHROMIUM} (apt-get install chromium, or set OAK_CHROMIUM)"
    return None


# Per module, not per session: while Playwright's sync API is open, the main thread has a
# running event loop, and every later test's asyncio.run() would fail.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = _missing()
    if missing is not None:
        if os.environ.get("OAK_REQUIRE_SERVICES") == "1":
            pytest.fail(f"OAK_REQUIRE_SERVICES=1 but {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Debian's chromium, never a browser Playwright would download.
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Oak:
    """The oakdata server: stoppable and restartable on the same port, storage kept."""

    storage: Storage
    settings: Settings
    thread: ServerThread
    secret_key: str = ""
    project_id: int = 0

    @property
    def url(self) -> str:
        return self.thread.url

    def stop(self) -> None:
        self.thread.stop()

    def start_again(self) -> None:
        app = create_app(self.settings, self.storage)
        self.thread = ServerThread(app, settings=self.settings, port=self.thread.port)
        self.thread.start()

    def events(self, name: str | None = None) -> list[StoredEvent]:
        return self.storage.recent_events(self.project_id, name, 0, 1000)

    def wait_for_events(
        self, name: str, where: Callable[[StoredEvent], bool] = lambda _: True, count: int = 1
    ) -> list[StoredEvent]:
        return wait_until(
            lambda: (
                (found := [e for e in self.events(name) if where(e)])
                and len(found) >= count
                and found
            ),
            f"{count} {name!r} event(s)",
        )

    def timeline(self, distinct_id: str) -> dict[str, Any]:
        response = httpx.get(
            f"{self.url}/api/oak/persons/timeline",
            params={"distinct_id": distinct_id},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=10.0,
        )
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]


@dataclass
class Site:
    url: str
    public_key: str


def wait_until(condition: Callable[[], Any], what: str) -> Any:
    """Polls `condition` until it is truthy; the browser and the server give no event to await."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {WAIT_SECONDS} s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def oak(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Oak]:
    db_path = tmp_path_factory.mktemp("oak") / "oakdata.db"
    storage = open_storage(str(db_path), create=True)
    settings = Settings(db_path=str(db_path), admin_token=ADMIN_TOKEN)
    thread = ServerThread(create_app(settings, storage), settings=settings)
    thread.start()
    running = Oak(storage, settings, thread)
    running.secret_key = create_key(storage, "secret")
    running.project_id = storage.create_project("default").id
    yield running
    running.thread.stop()
    storage.close()


@pytest.fixture(scope="module")
def site(oak: Oak) -> Iterator[Site]:
    settings: dict[str, str] = {}
    app, backend = site_app(oak.url, oak.secret_key, settings)
    thread = ServerThread(app)  # bound now: its origin is known before it serves
    settings["public_key"] = create_key(oak.storage, "public", (thread.url,))
    thread.start()
    yield Site(thread.url, settings["public_key"])
    thread.stop()
    backend.shutdown(timeout=5.0)


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    """A fresh browser context (its own storage and cookies) whose page fails the test if a
    dialog opens: no script of anyone's may run in the console."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(WAIT_SECONDS * 1000)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    context.close()
    assert dialogs == [], f"a script ran and opened a dialog: {dialogs}"


def sign_in(page: Any, oak: Oak) -> None:
    page.goto(f"{oak.url}/")
    page.fill("input[name=token]", ADMIN_TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url(f"{oak.url}/events")


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
