"""Interpreter exit: the atexit flush, and discarded clients not kept alive."""

from __future__ import annotations

import gc
import textwrap
import weakref

from httpbed import Delay, HttpBed
from oakdata import OakClient

from ._support import SECRET_KEY, run_python

# Generous: only a client that waits out the whole slow server and its retries gets near it.

CAPTURE_AND_EXIT = textwrap.dedent(
    """
    import sys
    from oakdata import OakClient

    oak = OakClient(sys.argv[1], host=sys.argv[2], flush_at=100, flush_interval=0)
    for i in range(5):
        print(oak.capture("user", f"event-{i}"), flush=True)
    # no shutdown(), no flush(): the atexit hook is the only thing that can send these
    """
)


def test_events_captured_without_shutdown_are_flushed_at_interpreter_exit(bed: HttpBed):
    done = run_python(CAPTURE_AND_EXIT, SECRET_KEY, bed.url)
    assert done.returncode == 0, done.stderr
    printed = done.stdout.split()
    assert len(printed) == 5
    assert sorted(m["uuid"] for m in bed.wait_for_messages(5)) == sorted(printed)


def test_the_exit_flush_is_bounded_when_the_server_hangs(bed: HttpBed):
    bed.responder = lambda request: Delay(600)
    done = run_python(CAPTURE_AND_EXIT, SECRET_KEY, bed.url)  # a TimeoutExpired here fails the test
    assert done.returncode == 0, done.stderr
    assert SECRET_KEY not in done.stderr


def test_the_exit_flush_does_not_resend_what_shutdown_delivered(bed: HttpBed):
    script = CAPTURE_AND_EXIT + "print(oak.shutdown(timeout=10), flush=True)\n"
    done = run_python(script, SECRET_KEY, bed.url)
    assert done.returncode == 0, done.stderr
    *uuids, shutdown_result = done.stdout.split()
    assert shutdown_result == "True"
    assert sorted(bed.uuids()) == sorted(uuids)


def test_a_discarded_client_that_never_captured_is_not_kept_alive(bed: HttpBed, client_class):
    oak = client_class(SECRET_KEY, host=bed.url, flush_interval=0)
    ref = weakref.ref(oak)
    del oak
    gc.collect()
    assert ref() is None


def test_a_discarded_client_with_a_running_worker_is_not_kept_alive(bed: HttpBed):
    # OakClient's thread; AsyncOakClient's task and its exit flush: test_async_client.py.
    oak = OakClient(SECRET_KEY, host=bed.url, flush_at=1, flush_interval=0.05)
    oak.capture("u", "e")
    bed.wait_for_messages(1)  # the worker thread is running
    ref = weakref.ref(oak)
    del oak
    gc.collect()
    assert ref() is None


def test_capturing_during_interpreter_exit_never_raises(bed: HttpBed):
    script = textwrap.dedent(
        """
        import atexit, sys, threading

        def late():
            # registered first, so it runs after oakdata's own exit hook
            print(oak.capture("user", "late"), flush=True)
            print(oak.flush(timeout=1), flush=True)

        atexit.register(late)
        from oakdata import OakClient
        oak = OakClient(sys.argv[1], host=sys.argv[2], flush_at=1, flush_interval=0)
        print(oak.capture("user", "early"), flush=True)

        def spam():
            while True:
                oak.capture("user", "from-a-daemon-thread")

        threading.Thread(target=spam, daemon=True).start()
        """
    )
    done = run_python(script, SECRET_KEY, bed.url)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    early = done.stdout.split()[0]
    assert early in bed.uuids()
