"""Many threads at once, and a client that crosses os.fork()."""

from __future__ import annotations

import json
import os
import select
import sys
import threading
import warnings
from collections import Counter

import pytest

from httpbed import HttpBed
from oakdata import OakClient

from ._support import SECRET_KEY, WAIT_SECONDS, assert_consistent, dropped_only

THREADS = 8
EVENTS_PER_THREAD = 250


def test_n_threads_capturing_m_events_each_deliver_exactly_n_times_m_distinct_events(
    bed: HttpBed, make_client
):
    oak = make_client(flush_at=50)
    start = threading.Barrier(THREADS)
    returned: list[list[str]] = [[] for _ in range(THREADS)]

    def work(index: int) -> None:
        start.wait(WAIT_SECONDS)
        for i in range(EVENTS_PER_THREAD):
            returned[index].append(oak.capture(f"user-{index}", "e", {"i": i}))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_SECONDS * 3)
    expected = [u for per_thread in returned for u in per_thread]
    assert len(expected) == THREADS * EVENTS_PER_THREAD
    assert all(expected)
    assert oak.flush(timeout=WAIT_SECONDS * 3) is True
    received = Counter(bed.uuids())
    assert set(received) == set(expected)
    assert max(received.values()) == 1
    stats = oak.stats()
    assert stats.delivered == THREADS * EVENTS_PER_THREAD
    dropped_only(stats)


def test_flushes_from_many_threads_while_capturing_lose_and_duplicate_nothing(
    bed: HttpBed, make_client
):
    oak = make_client(flush_at=7)
    returned: list[str] = []
    lock = threading.Lock()

    def work(index: int) -> None:
        for i in range(100):
            uuid = oak.capture(f"user-{index}", "e")
            with lock:
                returned.append(uuid)
            if i % 10 == 0:
                oak.flush(timeout=WAIT_SECONDS)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_SECONDS * 3)
    assert oak.flush(timeout=WAIT_SECONDS) is True
    assert sorted(bed.uuids()) == sorted(returned)
    assert_consistent(oak.stats())


# ----------------------------------------------------------------------------- fork


def _fork(child) -> int:
    with warnings.catch_warnings():
        # Python 3.12+ warns about forking a multi-threaded process; forking one is the point.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            child()
            code = 0
        finally:
            os._exit(code)
    return pid


def _read_child_report(read_fd: int, pid: int) -> dict:
    ready, _, _ = select.select([read_fd], [], [], WAIT_SECONDS * 3)
    if not ready:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the forked child did not report within its time")
    with os.fdopen(read_fd, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, data
    return json.loads(data)


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "win32", reason="POSIX fork")
def test_a_client_made_before_fork_delivers_the_childs_events_and_not_the_parents_twice(
    bed: HttpBed,
):
    oak = OakClient(
        SECRET_KEY, host=bed.url, flush_at=1000, flush_interval=0, retry_initial_delay=0.01
    )
    try:
        parent_uuids = [oak.capture("parent", f"p{i}") for i in range(3)]
        read_fd, write_fd = os.pipe()

        def child() -> None:
            os.close(read_fd)
            uuids = [oak.capture("child", f"c{i}") for i in range(2)]
            delivered = oak.shutdown(timeout=WAIT_SECONDS)
            stats = oak.stats()
            report = {"uuids": uuids, "delivered": delivered, "stats_delivered": stats.delivered}
            with os.fdopen(write_fd, "wb") as pipe:
                pipe.write(json.dumps(report).encode())

        pid = _fork(child)
        os.close(write_fd)
        report = _read_child_report(read_fd, pid)

        assert report["delivered"] is True
        assert all(report["uuids"])
        assert report["stats_delivered"] == 2
        # The child sent its own events and nothing of what the parent had queued.
        assert sorted(bed.uuids()) == sorted(report["uuids"])

        assert oak.flush(timeout=WAIT_SECONDS) is True
        received = Counter(bed.uuids())
        assert set(received) == set(parent_uuids) | set(report["uuids"])
        assert max(received.values()) == 1
    finally:
        oak.shutdown(timeout=2)


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "win32", reason="POSIX fork")
def test_a_client_whose_worker_was_running_before_fork_works_in_the_child(bed: HttpBed):
    oak = OakClient(SECRET_KEY, host=bed.url, flush_at=1, flush_interval=0)
    try:
        first = oak.capture("parent", "warm-up")
        bed.wait_for_messages(1)  # the worker thread and its connection exist now
        read_fd, write_fd = os.pipe()

        def child() -> None:
            os.close(read_fd)
            uuid = oak.capture("child", "from-child")
            delivered = oak.shutdown(timeout=WAIT_SECONDS)
            with os.fdopen(write_fd, "wb") as pipe:
                pipe.write(json.dumps({"uuid": uuid, "delivered": delivered}).encode())

        pid = _fork(child)
        os.close(write_fd)
        report = _read_child_report(read_fd, pid)
        assert report["delivered"] is True
        assert Counter(bed.uuids()) == Counter([first, report["uuid"]])
        # and the parent's client still works
        later = oak.capture("parent", "after-fork")
        assert oak.flush(timeout=WAIT_SECONDS) is True
        assert Counter(bed.uuids()) == Counter([first, report["uuid"], later])
    finally:
        oak.shutdown(timeout=2)


def _capture_in_a_multiprocessing_child(oak, results) -> None:  # pragma: no cover - child
    uuid = oak.capture("mp-child", "from-child")
    results.put((uuid, oak.shutdown(timeout=WAIT_SECONDS)))


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "win32", reason="POSIX fork")
def test_a_client_inherited_by_a_multiprocessing_fork_child_delivers_its_events(bed: HttpBed):
    import multiprocessing

    context = multiprocessing.get_context("fork")
    oak = OakClient(SECRET_KEY, host=bed.url, flush_at=1000, flush_interval=0)
    try:
        parent_uuid = oak.capture("parent", "queued-before-fork")
        results = context.Queue()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            child = context.Process(target=_capture_in_a_multiprocessing_child, args=(oak, results))
            child.start()
        child_uuid, delivered = results.get(timeout=WAIT_SECONDS * 3)
        child.join(WAIT_SECONDS)
        assert child.exitcode == 0
        assert delivered is True
        assert bed.uuids() == [child_uuid]
        assert oak.flush(timeout=WAIT_SECONDS) is True
        assert Counter(bed.uuids()) == Counter([child_uuid, parent_uuid])
    finally:
        oak.shutdown(timeout=2)
