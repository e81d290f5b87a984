"""The ASGI middleware around a bare ASGI app (no framework): what it opens, and when not."""

from __future__ import annotations

import asyncio
from typing import Any

from httpbed import HttpBed
from oakdata import AsyncOakClient
from oakdata.integrations.asgi import OakDataMiddleware

from .conftest import SECRET_KEY, assert_received_exactly


def _drive(bed: HttpBed, scopes: list[dict[str, Any]], **options: Any) -> list[str | None]:
    """Run each scope through the middleware around an app that captures; the uuids."""

    async def main() -> list[str | None]:
        oak = AsyncOakClient(SECRET_KEY, host=bed.url, flush_interval=0)
        uuids: list[str | None] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            uuids.append(oak.capture(event="seen", properties={"type": scope["type"]}))

        middleware = OakDataMiddleware(app, **options)
        for scope in scopes:
            await middleware(scope, None, None)  # type: ignore[arg-type]
        await oak.shutdown(timeout=5)  # False where a capture had no id: the tests say which
        return uuids

    return asyncio.run(main())


def _http(path: str, user: object = None) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "http", "method": "GET", "scheme": "https", "path": path,
        "query_string": b"token=secret", "headers": [(b"host", b"example.com")],
        "client": ("203.0.113.9", 4242),
    }  # fmt: skip
    if user is not None:
        scope["user"] = user
    return scope


class _User:
    def __init__(self, identity: str, is_authenticated: bool) -> None:
        self.identity = identity
        self.is_authenticated = is_authenticated


def test_an_authenticated_scope_user_gives_the_id_and_the_ip_only_when_asked(bed) -> None:
    uuids = _drive(bed, [_http("/a", _User("user_1", True))], include_ip=True)
    uuids += _drive(bed, [_http("/b", _User("user_2", True))])

    assert_received_exactly(bed, uuids)
    by_path = {m["properties"]["$path"]: m for m in bed.messages}
    assert by_path["/a"]["distinct_id"] == "user_1"
    assert by_path["/a"]["properties"]["$current_url"] == "https://example.com/a"
    assert by_path["/a"]["properties"]["$ip"] == "203.0.113.9"
    assert "$ip" not in by_path["/b"]["properties"]


def test_no_id_without_an_authenticated_user_and_no_context_outside_requests(bed) -> None:
    failing = _drive(bed, [_http("/x", _User("user_1", False)), _http("/y"),
                           {"type": "lifespan"}])  # fmt: skip

    assert failing == [None, None, None]
    assert bed.messages == []


def test_a_failing_id_function_gives_no_id_and_fails_nothing(bed) -> None:
    def broken(scope: Any) -> str:
        raise RuntimeError("the app's own bug")

    assert _drive(bed, [_http("/z")], distinct_id=broken) == [None]
