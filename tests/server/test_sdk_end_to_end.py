"""The SDK's OakClient sending to the real server: what the seed promises, end to end."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import RunningServer, timeline

EVERY_ENGINE = True  # storage behaviour: run on every engine (tests/engines.py)

oakdata = pytest.importorskip("oakdata", reason="the SDK (oakdata.OakClient) is not importable")
OakClient: Any = getattr(oakdata, "OakClient", None)
if OakClient is None:
    pytest.skip("oakdata.OakClient does not exist yet", allow_module_level=True)


@pytest.mark.parametrize("compress", [True, False])
def test_every_sdk_method_is_delivered_and_stored(
    server: RunningServer, http: httpx.Client, compress: bool
) -> None:
    user = f"sdk-user-{compress}"
    client = OakClient(server.secret_key, host=server.url, flush_interval=0, gzip=compress)
    client.capture(f"anon-{user}", "$pageview", {"path": "/"})
    client.identify(user, {"email": "sdk@example.com"})
    client.alias(user, f"anon-{user}")
    client.group_identify("company", f"co-{user}", {"name": "Co"})
    client.capture(user, "plan_upgraded", {"plan": "pro"}, groups={"company": f"co-{user}"})
    assert client.shutdown(timeout=15.0)
    stats = client.stats()
    assert stats.delivered == 5
    assert stats.dropped_total == 0
    body = timeline(http, server, f"anon-{user}").json()
    assert body["properties"] == {"email": "sdk@example.com"}
    assert [e["event"] for e in body["events"]] == ["$pageview", "plan_upgraded"]
    assert body["events"][1]["properties"]["$lib"] == "oakdata-python"


def test_the_serverless_recipe_delivers_before_shutdown_returns(
    server: RunningServer, http: httpx.Client
) -> None:
    client = OakClient(server.secret_key, host=server.url, flush_at=1, flush_interval=0)
    uuid = client.capture("serverless-user", "checkout_completed", {"amount": 12})
    assert client.shutdown(timeout=15.0)
    (event,) = timeline(http, server, "serverless-user").json()["events"]
    assert event["uuid"] == uuid


def test_a_revoked_key_makes_the_sdk_drop_as_client_error(server: RunningServer) -> None:
    key = server.new_key()
    server.storage.revoke_key(key[:16])
    client = OakClient(key, host=server.url, flush_interval=0)
    client.capture("revoked-user", "x")
    client.shutdown(timeout=15.0)
    assert client.stats().dropped["client_error"] == 1


def test_a_big_backlog_arrives_whole(server: RunningServer, http: httpx.Client) -> None:
    client = OakClient(server.secret_key, host=server.url, flush_at=500, flush_interval=0)
    for i in range(2500):
        client.capture("backlog-user", "tick", {"i": i, "pad": "x" * 200})
    assert client.shutdown(timeout=30.0)
    assert client.stats().delivered == 2500
    page = timeline(http, server, "backlog-user", limit=1000).json()
    assert len(page["events"]) == 1000
    assert page["next_cursor"] is not None
