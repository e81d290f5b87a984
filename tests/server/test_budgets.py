"""Rate limits count events and bytes per key; gzip bodies are bounded in members."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator

import httpx
import pytest

from oakdata_server.body import MAX_GZIP_MEMBERS

from .conftest import ALLOWED_ORIGIN, RunningServer, message, post_batch, start_server


@pytest.fixture(scope="module")
def budgeted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    # Requests are not what is limited here; events and bytes have tiny rates, so the
    # budget is the burst: one full batch (1000 events) and one full body (1 MiB).
    thread, running = start_server(
        tmp_path_factory.mktemp("budgets") / "oakdata.db",
        rate_limit_per_second=1000,
        rate_limit_burst=1000,
        rate_limit_events_per_second=1,
        rate_limit_bytes_per_second=1,
    )
    yield running
    thread.stop()
    running.storage.close()


def test_a_flood_of_events_on_the_public_key_leaves_the_secret_key_served(
    budgeted: RunningServer, http: httpx.Client
) -> None:
    def flood() -> httpx.Response:
        batch = [message(distinct_id="flood") for _ in range(400)]
        return post_batch(http, budgeted, batch, key=budgeted.public_key, origin=ALLOWED_ORIGIN)

    statuses = [flood().status_code for _ in range(4)]
    assert statuses[:2] == [200, 200]
    assert statuses[3] == 429
    refused = flood()
    assert refused.json()["error"]["code"] == "rate_limited"
    assert "events" in refused.json()["error"]["message"]
    assert int(refused.headers["retry-after"]) >= 1
    backend = [message(distinct_id="backend") for _ in range(400)]
    assert post_batch(http, budgeted, backend).status_code == 200


def test_request_bytes_are_budgeted_per_key(budgeted: RunningServer, http: httpx.Client) -> None:
    key = budgeted.new_key()
    padding = {"pad": "x" * (400 * 1024)}
    statuses = [
        post_batch(http, budgeted, [message(properties=padding)], key=key, compress=False)
        for _ in range(4)
    ]
    assert [s.status_code for s in statuses[:2]] == [200, 200]
    assert statuses[3].status_code == 429
    assert "bytes" in statuses[3].json()["error"]["message"]


def _members(count: int) -> bytes:
    text = json.dumps({"batch": [message(distinct_id="members")]}).encode()
    return gzip.compress(text) + b"".join(gzip.compress(b" ") for _ in range(count - 1))


def test_gzip_bodies_with_many_members_are_refused(
    server: RunningServer, http: httpx.Client
) -> None:
    headers = {"Authorization": f"Bearer {server.secret_key}", "Content-Encoding": "gzip"}
    fine = http.post(server.ingest_url, content=_members(MAX_GZIP_MEMBERS), headers=headers)
    assert fine.json()["accepted"] == 1
    many = http.post(server.ingest_url, content=_members(MAX_GZIP_MEMBERS + 1), headers=headers)
    assert many.status_code == 400
    assert many.json()["error"]["code"] == "invalid_gzip"
    assert str(MAX_GZIP_MEMBERS) in many.json()["error"]["message"]
