"""oak.js as served, its size, and the console's refusals, without a browser."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator

import httpx
import pytest

import oakdata
from oakdata_server.static_files import oak_js

from .conftest import ADMIN_TOKEN, RunningServer

# What a site downloads, minified and gzipped; docs/browser.md reports the measured size.
MAX_OAK_JS_GZIP_BYTES = 4 * 1024


def test_oak_js_is_served_with_caching_headers_and_revalidates(
    server: RunningServer, http: httpx.Client
) -> None:
    response = http.get(f"{server.url}/static/oak.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "max-age=" in response.headers["cache-control"]
    assert response.text == oak_js()
    again = http.get(
        f"{server.url}/static/oak.js", headers={"If-None-Match": response.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.content == b""


def test_oak_mjs_is_oak_js_with_an_export(server: RunningServer, http: httpx.Client) -> None:
    module = http.get(f"{server.url}/static/oak.mjs")
    assert module.status_code == 200
    assert module.headers["access-control-allow-origin"] == "*"
    assert module.text.startswith(oak_js())
    assert module.text[len(oak_js()) :].startswith("export default oak;")


def test_an_unknown_static_file_is_404(server: RunningServer, http: httpx.Client) -> None:
    assert http.get(f"{server.url}/static/../app.py").status_code == 404
    assert http.get(f"{server.url}/static/nothing.js").status_code == 404


def test_oak_js_says_the_package_version() -> None:
    assert f'var VERSION = "{oakdata.__version__}";' in oak_js()


def test_oak_js_minified_and_gzipped_stays_small() -> None:
    rjsmin = pytest.importorskip("rjsmin", reason="rjsmin comes with the test extra")
    minified = rjsmin.jsmin(oak_js()).encode()
    size = len(gzip.compress(minified, 9))
    print(f"oak.js: {len(oak_js().encode())} bytes, {len(minified)} minified, {size} gzipped")
    assert size <= MAX_OAK_JS_GZIP_BYTES


@pytest.fixture
def console(server: RunningServer) -> Iterator[tuple[httpx.Client, str]]:
    """A signed-in client, and its session's CSRF token."""
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        assert client.post("/sign-in", data={"token": ADMIN_TOKEN}).status_code == 303
        page = client.get("/keys")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None
        yield client, token.group(1)


def test_console_pages_need_a_session(server: RunningServer, http: httpx.Client) -> None:
    for path in ("/keys", "/persons", "/events", "/chart"):
        assert http.get(f"{server.url}{path}").headers["location"] == "/"
    assert http.get(f"{server.url}/events/feed").status_code == 401
    refused = http.post(f"{server.url}/keys", data={"kind": "secret"})
    assert refused.headers["location"] == "/"


def test_a_wrong_admin_token_does_not_sign_in(server: RunningServer, http: httpx.Client) -> None:
    response = http.post(f"{server.url}/sign-in", data={"token": "x" * 40})
    assert response.status_code == 401
    assert "set-cookie" not in response.headers


def test_a_console_form_without_its_csrf_token_is_refused(
    server: RunningServer, console: tuple[httpx.Client, str]
) -> None:
    client, _ = console
    before = len(server.storage.list_keys())
    for data in ({"kind": "secret"}, {"kind": "secret", "csrf": "forged"}):
        assert client.post("/keys", data=data).status_code == 403
    assert len(server.storage.list_keys()) == before


def test_a_console_form_posted_from_another_origin_is_refused(
    console: tuple[httpx.Client, str],
) -> None:
    client, csrf = console
    response = client.post(
        "/keys",
        data={"kind": "secret", "csrf": csrf},
        headers={"Origin": "https://evil.example.com"},
    )
    assert response.status_code == 403
    assert client.post("/keys", data={"kind": "secret", "csrf": csrf}).status_code == 200


def test_console_pages_forbid_inline_scripts(console: tuple[httpx.Client, str]) -> None:
    client, _ = console
    policy = client.get("/events").headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy


def test_a_public_key_needs_an_origin_and_refuses_wildcards(
    console: tuple[httpx.Client, str],
) -> None:
    client, csrf = console
    for origins in ("", "https://*.example.com", "not an origin"):
        data = {"kind": "public", "csrf": csrf, "origins": origins}
        assert client.post("/keys", data=data).status_code == 400
