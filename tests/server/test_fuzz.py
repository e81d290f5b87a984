"""Fuzz POST /api/oak/ingest from the OpenAPI document: no input answers 500 or loses data."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oakdata_server.openapi import openapi_document

from .conftest import RunningServer, message, post_batch, start_server, timeline

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is in the test extra")

schema = schemathesis.openapi.from_dict(openapi_document()).include(
    path="/api/oak/ingest", method="POST"
)
# 405: schemathesis also tries methods the path does not serve (protocol.md, section 7).
DOCUMENTED = {200, 400, 401, 403, 405, 408, 413, 422, 429, 503}
SEEDED = [
    message(distinct_id="seeded-person", event=f"seed{i}", properties={"i": i}) for i in range(5)
]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    thread, running = start_server(tmp_path_factory.mktemp("fuzz") / "oakdata.db")
    import httpx

    with httpx.Client() as http:
        assert post_batch(http, running, SEEDED).json()["accepted"] == len(SEEDED)
    yield running
    thread.stop()
    running.storage.close()


def _seeded_rows(server: RunningServer) -> list[tuple[Any, ...]]:
    connection = sqlite3.connect(server.db_path)
    try:
        return connection.execute(
            "SELECT uuid, distinct_id, event, timestamp, properties FROM events"
            " WHERE uuid IN (?, ?, ?, ?, ?) ORDER BY uuid",
            [m["uuid"] for m in SEEDED],
        ).fetchall()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def seeded_before(fuzzed: RunningServer) -> list[tuple[Any, ...]]:
    rows = _seeded_rows(fuzzed)
    assert len(rows) == len(SEEDED)
    return rows


@schema.parametrize()
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_fuzzed_ingest_request_answers_500_or_alters_stored_rows(
    case: Any, fuzzed: RunningServer, seeded_before: list[tuple[Any, ...]]
) -> None:
    response = case.call(
        base_url=fuzzed.url, headers={"Authorization": f"Bearer {fuzzed.secret_key}"}
    )
    assert response.status_code in DOCUMENTED, (response.status_code, response.text)
    assert _seeded_rows(fuzzed) == seeded_before


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=20,
)


@given(value=_JSON_VALUES, depth=st.integers(min_value=0, max_value=120))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_hostile_values_are_stored_or_refused_and_always_read_back(
    fuzzed: RunningServer, value: Any, depth: int
) -> None:
    import httpx

    for _ in range(depth):
        value = [value]
    distinct_id = f"fuzz-{uuid.uuid4()}"
    hostile = message(distinct_id=distinct_id, properties={"v": value})
    # allow_nan: NaN and Infinity go out as JSON's missing literals, 1e999 as a number.
    body = json.dumps({"batch": [hostile]}, allow_nan=True).replace("Infinity", "1e999")
    with httpx.Client(timeout=10.0) as http:
        answer = http.post(
            fuzzed.ingest_url,
            content=body.encode(),
            headers={"Authorization": f"Bearer {fuzzed.secret_key}"},
        )
        assert answer.status_code in (200, 400), answer.text
        read = timeline(http, fuzzed, distinct_id)
        assert read.status_code in (200, 404), read.text
    connection = sqlite3.connect(fuzzed.db_path)
    try:
        connection.execute("SELECT json_extract(properties, '$.v') FROM events").fetchall()
    finally:
        connection.close()
