"""With default settings, a server that is down for a few seconds loses nothing."""

from __future__ import annotations

import socket
import threading

import pytest

from httpbed import HttpBed

from ._support import SECRET_KEY, MakeClient

OUTAGE_SECONDS = 5.0
EVENTS = 50


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.slow
def test_a_server_unreachable_for_five_seconds_loses_no_event_with_default_settings(
    new_client: MakeClient,
):
    port = _free_port()
    started: list[HttpBed] = []
    # The scenario itself, not a synchronisation: the port refuses connections, then listens.
    comes_back = threading.Timer(OUTAGE_SECONDS, lambda: started.append(HttpBed(port)))
    oak = new_client(SECRET_KEY, host=f"http://127.0.0.1:{port}")  # every other option default
    comes_back.start()
    try:
        uuids = {oak.capture("user", "during_outage", {"n": n}) for n in range(EVENTS)}
        assert oak.flush(timeout=60)
        [bed] = started
        assert set(bed.uuids(bed.delivered_messages)) == uuids
        stats = oak.stats()
        assert stats.delivered == EVENTS
        assert stats.dropped_total == 0
        assert stats.retried > 0  # it did meet the outage
    finally:
        comes_back.join()
        for bed in started:
            bed.close()
