from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from .conftest import RunningServer, message, post_batch

CLI = [sys.executable, "-m", "oakdata_server.cli"]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=60, check=False, env=env
    )


def test_keys_create_prints_the_key_once_and_list_shows_only_its_id(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    created = run_cli("keys", "create", "--init", "--db", db, "--name", "ci")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("oak_sec_")
    listed = run_cli("keys", "list", "--db", db)
    assert listed.returncode == 0
    assert key[:16] in listed.stdout
    assert key not in listed.stdout


def test_a_key_revoked_from_the_cli_is_refused_by_the_running_server(
    server: RunningServer, http: httpx.Client
) -> None:
    created = run_cli("keys", "create", "--db", str(server.db_path))
    key = created.stdout.strip()
    assert post_batch(http, server, [message()], key=key).status_code == 200
    revoked = run_cli("keys", "revoke", key[:16], "--db", str(server.db_path))
    assert revoked.returncode == 0, revoked.stderr
    assert post_batch(http, server, [message()], key=key).status_code == 401
    again = run_cli("keys", "revoke", key[:16], "--db", str(server.db_path))
    assert again.returncode == 1
    assert "no active key" in again.stderr


def test_a_public_key_needs_an_origin(tmp_path: Path) -> None:
    result = run_cli("keys", "create", "--public", "--db", str(tmp_path / "x.db"))
    assert result.returncode == 2
    assert "--origin" in result.stderr


def test_capture_sends_one_event_with_the_sdk_and_timeline_prints_it(
    server: RunningServer,
) -> None:
    pytest.importorskip("oakdata", reason="the SDK is not importable")
    sent = run_cli(
        "capture",
        "cli-user",
        "report_exported",
        "-p",
        "rows=120",
        "-p",
        "format=csv",
        "--key",
        server.secret_key,
        "--host",
        server.url,
    )
    assert sent.returncode == 0, sent.stderr
    printed = run_cli("timeline", "cli-user", "--db", str(server.db_path))
    assert printed.returncode == 0, printed.stderr
    assert "report_exported" in printed.stdout
    assert '"rows": 120' in printed.stdout


def _capture(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("capture", *args, "--timeout", "30")


def test_capture_with_an_unknown_key_says_the_server_rejected_it(server: RunningServer) -> None:
    sent = _capture("cli-user", "x", "--key", "oak_sec_00000000unknown", "--host", server.url)
    assert sent.returncode == 1
    assert "not delivered" in sent.stderr
    assert "HTTP 401" in sent.stderr, sent.stderr
    assert "rejected the secret key" in sent.stderr
    assert "oak_sec_00000000unknown" not in sent.stderr
    assert len(sent.stderr.splitlines()) == 1, sent.stderr  # said once, not also by the SDK


def test_capture_with_a_revoked_key_says_the_server_rejected_it(server: RunningServer) -> None:
    key = run_cli("keys", "create", "--db", str(server.db_path)).stdout.strip()
    assert _capture("cli-user", "x", "--key", key, "--host", server.url).returncode == 0
    run_cli("keys", "revoke", key[:16], "--db", str(server.db_path))
    sent = _capture("cli-user", "x", "--key", key, "--host", server.url)
    assert sent.returncode == 1
    assert "HTTP 401" in sent.stderr, sent.stderr


def test_capture_to_a_refused_port_says_the_connection_was_refused() -> None:
    with socket.socket() as probe:  # a port nobody listens on: bound, closed, not reused yet
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sent = _capture(
        "cli-user", "x", "--key", "oak_sec_" + "0" * 32, "--host", f"http://127.0.0.1:{port}"
    )
    assert sent.returncode == 1
    assert f"127.0.0.1:{port}: connection refused" in sent.stderr, sent.stderr
    assert "retries_exhausted" in sent.stderr


def test_capture_of_invalid_input_names_the_fault(server: RunningServer) -> None:
    sent = _capture("", "x", "--key", server.secret_key, "--host", server.url)
    assert sent.returncode == 1
    assert "distinct_id is empty (invalid_input)" in sent.stderr, sent.stderr


def test_timeline_of_an_unknown_person_fails_with_exit_1(server: RunningServer) -> None:
    result = run_cli("timeline", "nobody-here", "--db", str(server.db_path))
    assert result.returncode == 1
    assert "no person" in result.stderr


def test_a_wrong_command_line_exits_2_with_usage(tmp_path: Path) -> None:
    assert run_cli().returncode == 2
    result = run_cli("keys", "explode")
    assert result.returncode == 2
    assert "usage:" in result.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_serve_answers_requests_and_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    db = str(tmp_path / "served.db")
    key = run_cli("keys", "create", "--init", "--db", db).stdout.strip()
    port = _free_port()
    process = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), "--db", db],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/oak/ingest"
        deadline = time.monotonic() + 20
        response = None
        while response is None:
            try:
                response = httpx.post(
                    url, json={"batch": [message()]}, headers={"Authorization": f"Bearer {key}"}
                )
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[1]
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.05)  # polling for the port to open; there is no event to wait on
        assert response.json()["accepted"] == 1
        # A key sent where it should not be, in the query string, must not reach the log.
        httpx.post(f"{url}?key={key}", json={"batch": []})
        health = httpx.get(f"http://127.0.0.1:{port}/api/oak/health")
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
    finally:
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=20)
    assert process.returncode == 0
    assert "reading API is off" in stderr
    logged = stdout + stderr  # uvicorn's access log goes to stdout
    assert "/api/oak/ingest?key=oak_[redacted]" in logged
    assert key[len("oak_sec_") :] not in logged


def test_the_demo_prints_one_stitched_timeline() -> None:
    pytest.importorskip("oakdata", reason="the SDK is not importable")
    result = subprocess.run(
        [sys.executable, "-m", "oakdata_server.demo"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for event in ("$pageview", "user_signed_up", "plan_upgraded", "payment_succeeded"):
        assert event in result.stdout
    assert "The same timeline from 'user_42' and 'cus_Q8x2Lr': True" in result.stdout
    assert "Server stopped." in result.stdout
