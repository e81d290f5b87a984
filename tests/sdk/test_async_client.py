"""What only AsyncOakClient has: a task instead of a thread, loops that come and go, its exit.

The shared behaviours run against it through the adapter (see conftest.py); these tests drive
it as apps do, with asyncio.run, and look at what differs from the threaded client.
"""

from __future__ import annotations

import asyncio
import gc
import textwrap
import threading
import weakref
from collections import Counter
from typing import Any

import pytest

from httpbed import Delay, HttpBed, Reply
from looplag import BLOCKED_LOOP_SECONDS, loop_lags
from oakdata import AsyncOakClient, Stats
from oakdata.testing import MemoryTransport

from ._async_adapter import LoopThread
from ._support import (
    FAST_OPTIONS,
    SECRET_KEY,
    WAIT_SECONDS,
    assert_consistent,
    dropped_only,
    new_threads,
    run_python,
)

# Generous: only an exit flush that waits out the whole slow server gets near it.
# Guards an await that must end by its own timeout: far below the back-off or request it
# would otherwise wait out, far above what the timeout allows.
BOUND_GUARD_SECONDS = 10.0


def _client(url: str, **options: Any) -> AsyncOakClient:
    return AsyncOakClient(SECRET_KEY, **{"host": url, **FAST_OPTIONS, **options})


# ----------------------------------------------------------------------------- loops


def test_a_client_made_outside_any_loop_delivers_when_used_inside_one(bed: HttpBed):
    oak = _client(bed.url)  # as at import time: no loop is running
    early = oak.capture("u", "captured-before-any-loop")

    async def main() -> tuple[str | None, bool, bool]:
        late = oak.capture("u", "captured-inside-the-loop")
        return late, await oak.flush(timeout=WAIT_SECONDS), await oak.shutdown(WAIT_SECONDS)

    late, flushed, shut_down = asyncio.run(main())
    assert early
    assert late
    assert flushed is True
    assert shut_down is True
    assert sorted(bed.uuids()) == sorted([early, late])
    dropped_only(oak.stats())


def test_a_second_asyncio_run_after_the_first_finished_still_delivers(bed: HttpBed):
    oak = _client(bed.url, flush_at=1)

    async def capture_and_see_it_arrive(event: str, seen: int) -> str | None:
        uuid = oak.capture("u", event)
        # No flush() yet: flush_at=1 makes the batch due, so only a running task sends it.
        await asyncio.to_thread(bed.wait_for_messages, seen)
        # Then wait for the answer: a request cut off by the loop's end is sent again
        # (the server de-duplicates), which is not what this test is about.
        assert await oak.flush(timeout=WAIT_SECONDS) is True
        return uuid

    try:
        first = asyncio.run(capture_and_see_it_arrive("in-the-first-loop", 1))
        second = asyncio.run(capture_and_see_it_arrive("in-the-second-loop", 2))
    finally:
        asyncio.run(oak.shutdown(timeout=WAIT_SECONDS))
    assert bed.uuids() == [first, second]
    assert oak.stats().delivered == 2


def test_captures_from_other_threads_while_the_loop_runs_are_delivered_once(bed: HttpBed):
    loop = LoopThread()
    oak = loop.call(_client, bed.url, flush_at=10)
    try:
        in_loop = loop.call(oak.capture, "u", "in-the-loop")  # the task runs from here on
        returned: list[list[str | None]] = [[] for _ in range(4)]
        start = threading.Barrier(len(returned))

        def work(index: int) -> None:
            start.wait(WAIT_SECONDS)
            # Plain calls from threads that are not the loop's, as a sync library makes them.
            returned[index] = [oak.capture(f"thread-{index}", "e", {"i": i}) for i in range(100)]

        threads = [threading.Thread(target=work, args=(n,)) for n in range(len(returned))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT_SECONDS)
        off_loop = [uuid for per_thread in returned for uuid in per_thread]
        assert len(off_loop) == 400
        assert all(off_loop)
        # flush_at=10 reached from those threads woke the task: batches left without flush()
        bed.wait_for_messages(390)
        assert loop.run(oak.flush(timeout=WAIT_SECONDS)) is True
        received = Counter(bed.uuids())
        assert set(received) == {in_loop, *off_loop}
        assert max(received.values()) == 1
        stats = loop.call(oak.stats)
        assert stats.delivered == 401
        dropped_only(stats)
    finally:
        loop.run(oak.shutdown(timeout=WAIT_SECONDS))
        loop.close()


# ----------------------------------------------------------------------------- no thread


def test_no_thread_is_started_to_deliver(bed: HttpBed):
    before = set(threading.enumerate())

    async def main() -> tuple[bool, set[threading.Thread]]:
        async with _client(bed.url, flush_at=2, flush_interval=0.05) as oak:
            oak.capture("u", "e1")
            oak.capture("u", "e2")  # due: the task sends it
            oak.capture("u", "e3")  # left for the timer or flush()
            delivered = await oak.flush(timeout=WAIT_SECONDS)
            return delivered, new_threads(before)

    delivered, started_while_running = asyncio.run(main())
    assert delivered is True
    assert len(bed.delivered_messages) == 3
    assert started_while_running == set()
    assert new_threads(before) == set()


def test_shutdown_ends_the_sender_task(bed: HttpBed):
    async def main() -> tuple[bool, set[asyncio.Task[Any]], set[asyncio.Task[Any]]]:
        oak = _client(bed.url, flush_interval=0.05)
        oak.capture("u", "e")
        await asyncio.to_thread(bed.wait_for_messages, 1)  # the timer sent it: a task runs
        others = {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}
        delivered = await oak.shutdown(timeout=WAIT_SECONDS)
        left = {t for t in others if not t.done()}
        return delivered, others, left

    delivered, running_before, left = asyncio.run(main())
    assert delivered is True
    assert running_before, "no task was sending before shutdown()"
    assert left == set()


def test_a_discarded_client_with_a_running_task_is_not_kept_alive(bed: HttpBed):
    async def main() -> weakref.ref[AsyncOakClient]:
        oak = _client(bed.url, flush_at=1)
        oak.capture("u", "e")
        await asyncio.to_thread(bed.wait_for_messages, 1)  # its task is running
        ref = weakref.ref(oak)
        del oak
        gc.collect()
        return ref

    assert asyncio.run(main())() is None


# ----------------------------------------------------------------------------- bounds


@pytest.mark.parametrize("server", ["500-in-back-off", "request-hangs"])
def test_shutdown_returns_false_within_its_timeout_against_a_failing_server(
    bed: HttpBed, server: str
):
    if server == "500-in-back-off":
        bed.responder = lambda request: Reply(500)
        options: dict[str, Any] = {"max_retries": 50, "retry_initial_delay": 20}
    else:
        bed.responder = lambda request: Delay(60)
        options = {"request_timeout": 30}

    async def main() -> tuple[bool, Stats]:
        oak = _client(bed.url, flush_at=2, **options)
        oak.capture("u", "e1")
        oak.capture("u", "e2")  # due: the task sends it
        # The first request has been answered 500 (so a 20 s back-off runs), or hangs.
        await asyncio.to_thread(
            bed.wait_for_settled if server == "500-in-back-off" else bed.wait_for_requests, 1
        )
        # A shutdown that ignored its timeout would wait out the back-off or the request.
        result = await asyncio.wait_for(oak.shutdown(timeout=0.5), BOUND_GUARD_SECONDS)
        return result, oak.stats()

    result, stats = asyncio.run(main())
    assert result is False
    assert stats.delivered == 0
    assert_consistent(stats)
    if server == "500-in-back-off":
        dropped_only(stats, shutdown_timeout=2)
    else:
        assert stats.queued + stats.dropped["shutdown_timeout"] == 2


def test_the_loop_is_never_blocked_while_the_server_is_slow(bed: HttpBed):
    # A behaviour, not a benchmark: a blocking connect, write or read would stall the loop
    # for the request timeout (3 s) at least; the 1 s bound absorbs a busy machine, and
    # bench/loop_lag.py measures the lag itself.
    async def warm_up() -> None:
        # The first send imports the transport (ssl, http.client): an import, not a wait.
        async with _client(bed.url) as oak:
            oak.capture("u", "warm-up")

    asyncio.run(warm_up())
    warm = len(bed.requests)
    bed.responder = lambda request: Delay(10)

    async def main() -> tuple[list[float], bool, bool]:
        oak = _client(bed.url, flush_at=5, request_timeout=3.0)
        stop = asyncio.Event()
        ticker = asyncio.create_task(loop_lags(stop))
        for n in range(40):
            oak.capture(f"user-{n % 7}", "page_viewed", {"n": n})  # a batch due every 5
            await asyncio.sleep(0.01)
        flushed = await oak.flush(timeout=0.2)
        shut_down = await oak.shutdown(timeout=0.2)
        stop.set()
        return await ticker, flushed, shut_down

    lags, flushed, shut_down = asyncio.run(main())
    measured = bed.requests[warm:]
    assert measured, "no request was in flight while the loop was measured"
    assert all(r.outcome in ("pending", "aborted") for r in measured)
    assert (flushed, shut_down) == (False, False)
    assert len(lags) > 10  # the ticker ran all along, not once after a stall
    assert max(lags) < BLOCKED_LOOP_SECONDS, f"worst lag {max(lags):.2f} s"


# ----------------------------------------------------------------------------- exit

CAPTURE_IN_A_LOOP_AND_EXIT = textwrap.dedent(
    """
    import asyncio, sys
    from oakdata import AsyncOakClient

    oak = AsyncOakClient(sys.argv[1], host=sys.argv[2], flush_at=5, flush_interval=0)

    async def main():
        for i in range(7):
            print(oak.capture("user", f"event-{i}"), flush=True)
        # The first batch of five is due and may be in flight when the loop ends.
        await oak.flush(timeout=float(sys.argv[3]))

    asyncio.run(main())
    # no shutdown(): the loop is gone, the exit hook is what can still send these
    """
)


@pytest.mark.parametrize(
    ("first_request", "flush_seconds"),
    [(None, "0"), (Delay(1.5), "0.3")],
    ids=["left-queued", "in-flight-when-the-loop-ends"],
)
def test_events_left_when_asyncio_run_returns_are_delivered_at_interpreter_exit(
    bed: HttpBed, first_request: Delay | None, flush_seconds: str
):
    if first_request is not None:
        bed.script(first_request)
    done = run_python(CAPTURE_IN_A_LOOP_AND_EXIT, SECRET_KEY, bed.url, flush_seconds)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    printed = done.stdout.split()
    assert len(printed) == 7
    delivered = bed.wait_for_delivered(7)
    assert sorted({m["uuid"] for m in delivered}) == sorted(printed)


def test_the_exit_flush_is_bounded_when_the_server_hangs(bed: HttpBed):
    bed.responder = lambda request: Delay(600)
    done = run_python(CAPTURE_IN_A_LOOP_AND_EXIT, SECRET_KEY, bed.url, "0")  # TimeoutExpired fails
    assert done.returncode == 0, done.stderr
    assert SECRET_KEY not in done.stderr


def test_the_exit_flush_does_not_resend_what_shutdown_delivered(bed: HttpBed):
    script = CAPTURE_IN_A_LOOP_AND_EXIT.replace(
        "asyncio.run(main())", "asyncio.run(main())\nprint(asyncio.run(oak.shutdown(10)))"
    )
    done = run_python(script, SECRET_KEY, bed.url, "0")
    assert done.returncode == 0, done.stderr
    *uuids, shutdown_result = done.stdout.split()
    assert shutdown_result == "True"
    assert sorted(bed.uuids()) == sorted(uuids)


# ----------------------------------------------------------------------------- testing


def test_a_memory_transport_is_either_refused_or_records_each_event_once():
    # oakdata.testing.MemoryTransport is a sync Transport. Handed to the asyncio client it
    # must be refused at construction, or work: never accepted, then "sent" again and again
    # and reported as a failure.
    transport = MemoryTransport()
    try:
        oak = AsyncOakClient("oak_sec_test", transport=transport)
    except ValueError:
        return

    async def main() -> tuple[str | None, bool]:
        uuid = oak.capture("u", "e")
        return uuid, await oak.flush(timeout=WAIT_SECONDS)

    uuid, flushed = asyncio.run(main())
    asyncio.run(oak.shutdown(timeout=WAIT_SECONDS))
    assert [m["uuid"] for m in transport.messages] == [uuid]
    assert flushed is True
    dropped_only(oak.stats())
