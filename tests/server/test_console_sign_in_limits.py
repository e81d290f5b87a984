"""Failed console sign-ins are limited per client address and in all; the right token is
refused too while limited, and a session already signed in is never touched."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from oakdata_server.console.sign_in_limits import MAX_ADDRESSES, WINDOW_SECONDS, SignInLimits
from oakdata_server.settings import DEFAULT_SIGN_IN_FAILURES_PER_MINUTE

from .conftest import ADMIN_TOKEN, RunningServer, start_server

WRONG = "not-the-admin-token-0123456789"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    # Its own server: the failures a test spends must not limit other tests' sign-ins.
    thread, running = start_server(tmp_path / "oakdata.db")
    yield running
    thread.stop()
    running.storage.close()


def sign_in(client: httpx.Client, token: str, address: str = "192.0.2.1") -> httpx.Response:
    # The server trusts X-Forwarded-For from 127.0.0.1 (uvicorn's default, for a local
    # reverse proxy), which lets one test client speak for several addresses.
    return client.post("/sign-in", data={"token": token}, headers={"X-Forwarded-For": address})


def test_an_address_over_its_failures_is_refused_even_with_the_right_token(
    server: RunningServer,
) -> None:
    with (
        httpx.Client(base_url=server.url, timeout=10.0) as admin,
        httpx.Client(base_url=server.url, timeout=10.0) as guesser,
    ):
        assert sign_in(admin, ADMIN_TOKEN).status_code == 303
        for _ in range(DEFAULT_SIGN_IN_FAILURES_PER_MINUTE):
            assert sign_in(guesser, WRONG).status_code == 401

        refused = sign_in(guesser, WRONG)
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= WINDOW_SECONDS
        assert "Too many failed sign-ins" in refused.text
        right_token = sign_in(guesser, ADMIN_TOKEN)
        assert right_token.status_code == 429
        assert "set-cookie" not in right_token.headers

        assert sign_in(guesser, ADMIN_TOKEN, address="192.0.2.2").status_code == 303
        assert admin.get("/keys").status_code == 200  # a session already made is untouched


def test_signing_in_with_the_right_token_is_never_limited(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        for _ in range(3 * DEFAULT_SIGN_IN_FAILURES_PER_MINUTE):
            assert sign_in(client, ADMIN_TOKEN).status_code == 303


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_may_try_again_once_its_oldest_failure_is_a_minute_old() -> None:
    clock = Clock()
    limits = SignInLimits(per_address=3, total=100, clock=clock)
    for _ in range(3):
        assert limits.wait("a") == 0.0
        limits.failed("a")
        clock.now += 10
    assert limits.wait("a") == pytest.approx(WINDOW_SECONDS - 30)
    assert limits.wait("b") == 0.0
    clock.now += WINDOW_SECONDS - 30
    assert limits.wait("a") == 0.0


def test_the_total_cap_holds_across_addresses() -> None:
    clock = Clock()
    limits = SignInLimits(per_address=5, total=4, clock=clock)
    for address in ("a", "b", "c", "d"):
        limits.failed(address)
    assert limits.wait("somebody new") == pytest.approx(WINDOW_SECONDS)


def test_zero_turns_a_limit_off() -> None:
    limits = SignInLimits(per_address=0, total=0)
    for _ in range(100):
        limits.failed("a")
    assert limits.wait("a") == 0.0


def test_memory_is_bounded_by_forgetting_the_least_recent_address() -> None:
    limits = SignInLimits(per_address=1, total=0)
    for n in range(MAX_ADDRESSES + 10):
        limits.failed(f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}")
    assert len(limits) == MAX_ADDRESSES
    assert limits.wait("10.0.0.0") == 0.0  # the first, forgotten
    assert limits.wait(f"10.0.{(MAX_ADDRESSES >> 8) & 255}.{MAX_ADDRESSES & 255}") > 0
