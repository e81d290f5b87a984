"""What the spool promises: captured events survive outages, kills and restarts, once each."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from httpbed import HttpBed, Reply
from oakdata import AsyncOakClient, OakClient

from .conftest import SECRET_KEY, RunScript

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the spool needs fcntl.flock")

WAIT = 20.0


def _killed_writer(spool: Path, count: int, *, host: str = "http://127.0.0.1:9") -> str:
    """A script that captures count events with the server unreachable, prints their uuids,
    then kills itself with SIGKILL: no atexit hook, no flush, nothing but the spool."""
    return f"""
        import os, signal
        from oakdata import AsyncOakClient, OakClient
        oak = OakClient({SECRET_KEY!r}, host={host!r}, spool_path={str(spool)!r},
                        flush_at=5, max_queue_size=50, retry_initial_delay=0.01)
        uuids = [oak.capture("user_" + str(i % 7), "job_done", {{"i": i}}) for i in range({count})]
        print("\\n".join(uuids), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """


def test_events_captured_before_a_sigkill_are_delivered_by_the_next_client(
    tmp_path: Path, bed: HttpBed, run_script: RunScript
) -> None:
    killed = run_script(_killed_writer(tmp_path, 300))
    assert killed.returncode == -signal.SIGKILL
    captured = killed.stdout.split()
    assert len(captured) == 300

    with OakClient(SECRET_KEY, host=bed.url, spool_path=tmp_path) as oak:
        assert oak.stats().recovered == 300
        assert oak.flush(timeout=WAIT)

    received = bed.uuids(bed.delivered_messages)
    assert sorted(received) == sorted(captured)


def test_the_asyncio_client_recovers_a_killed_writers_events_and_spools_its_own(
    tmp_path: Path, bed: HttpBed, run_script: RunScript
) -> None:
    captured = run_script(_killed_writer(tmp_path, 40)).stdout.split()
    down = True
    bed.responder = lambda request: Reply(503) if down else None

    async def outage_then_stop() -> tuple[int, str | None, bool]:
        oak = AsyncOakClient(
            SECRET_KEY, host=bed.url, spool_path=tmp_path, retry_initial_delay=0.01
        )
        mine = oak.capture("user_1", "during_outage")
        return oak.stats().recovered, mine, await oak.shutdown(timeout=0.3)

    recovered, mine, delivered = asyncio.run(outage_then_stop())
    assert (recovered, delivered) == (40, False)

    down = False

    async def recover() -> bool:
        async with AsyncOakClient(SECRET_KEY, host=bed.url, spool_path=tmp_path) as oak:
            return await oak.flush(timeout=WAIT)

    assert asyncio.run(recover())
    delivered = bed.uuids(bed.delivered_messages)
    assert sorted(delivered) == sorted([*captured, mine])


def test_a_recovering_client_batches_the_old_events_in_order_before_its_own(
    tmp_path: Path, bed: HttpBed, run_script: RunScript
) -> None:
    captured = run_script(_killed_writer(tmp_path, 20)).stdout.split()
    with OakClient(SECRET_KEY, host=bed.url, spool_path=tmp_path, flush_at=1) as oak:
        mine = oak.capture("user_1", "after_restart")
        assert oak.flush(timeout=WAIT)
    # Two connections may deliver batches in either order; what the client controls is
    # what goes in which batch: slices of the recovered events then its own, in order.
    expected = [*captured, mine]
    batches = [bed.uuids(request.messages) for request in bed.requests]
    assert sorted(uuid for batch in batches for uuid in batch) == sorted(expected)
    for batch in batches:
        start = expected.index(batch[0])
        assert expected[start : start + len(batch)] == batch


def test_an_outage_longer_than_the_memory_queue_loses_nothing(tmp_path: Path, bed: HttpBed) -> None:
    outage = True
    bed.responder = lambda request: Reply(503) if outage else None
    oak = OakClient(
        SECRET_KEY,
        host=bed.url,
        spool_path=tmp_path,
        max_queue_size=20,
        flush_at=10,
        retry_initial_delay=0.01,
        max_retries=1,
    )
    captured = [oak.capture("user_1", "tick", {"i": i}) for i in range(500)]
    bed.wait_for_requests(3)  # the server has refused batches more than max_retries times
    stats = oak.stats()
    assert None not in captured
    assert stats.dropped_total == 0
    assert stats.queued == 500

    outage = False
    assert oak.flush(timeout=WAIT)
    assert oak.shutdown(timeout=WAIT)
    delivered = bed.uuids(bed.delivered_messages)
    assert sorted(delivered) == sorted(captured)
    assert oak.stats().delivered == 500


def test_the_byte_bound_drops_new_events_as_queue_full_when_the_spool_is_full(
    tmp_path: Path, bed: HttpBed
) -> None:
    bed.responder = lambda request: Reply(503)
    oak = OakClient(
        SECRET_KEY,
        host=bed.url,
        spool_path=tmp_path,
        spool_max_bytes=1024 * 1024,
        retry_initial_delay=0.01,
    )
    payload = {"blob": "x" * 10_000}
    results = [oak.capture("user_1", "big", payload) for _ in range(150)]
    accepted = [r for r in results if r is not None]
    stats = oak.stats()
    assert 90 <= len(accepted) < 150  # about 1 MiB of 10 KB events
    assert stats.dropped["queue_full"] == 150 - len(accepted)
    on_disk = sum(f.stat().st_size for f in tmp_path.glob("*.oak"))
    assert on_disk <= 1024 * 1024
    oak.shutdown(timeout=0.5)


def test_shutdown_timeout_leaves_the_events_in_the_spool_for_the_next_client(
    tmp_path: Path, bed: HttpBed
) -> None:
    down = True
    bed.responder = lambda request: Reply(503) if down else None
    first = OakClient(SECRET_KEY, host=bed.url, spool_path=tmp_path, retry_initial_delay=0.01)
    captured = [first.capture("user_1", "e", {"i": i}) for i in range(30)]
    assert first.shutdown(timeout=0.3) is False
    stats = first.stats()
    assert stats.dropped_total == 0
    assert stats.queued == 30  # not lost: still waiting, on disk

    down = False
    with OakClient(SECRET_KEY, host=bed.url, spool_path=tmp_path) as second:
        assert second.stats().recovered == 30
        assert second.flush(timeout=WAIT)
    assert set(captured) <= set(bed.uuids(bed.delivered_messages))
    assert len(set(bed.uuids(bed.delivered_messages))) == 30


def test_a_live_clients_segment_is_never_claimed_by_another_client(
    tmp_path: Path, bed: HttpBed
) -> None:
    bed.responder = lambda request: Reply(503)
    live = OakClient(SECRET_KEY, host=bed.url, spool_path=tmp_path, retry_initial_delay=0.01)
    for i in range(10):
        live.capture("user_1", "e", {"i": i})
    other = OakClient(SECRET_KEY, host=bed.url, spool_path=tmp_path)
    assert other.stats().recovered == 0
    other.shutdown(timeout=0.5)
    live.shutdown(timeout=0.3)


def test_two_processes_recovering_one_spool_send_each_event_once(
    tmp_path: Path, bed: HttpBed, run_script: RunScript
) -> None:
    captured = set(run_script(_killed_writer(tmp_path, 200)).stdout.split())
    recover = f"""
        from oakdata import AsyncOakClient, OakClient
        oak = OakClient({SECRET_KEY!r}, host={bed.url!r}, spool_path={str(tmp_path)!r})
        print(oak.stats().recovered, oak.shutdown(timeout=20), flush=True)
        """
    env = {**os.environ, "NO_PROXY": "127.0.0.1"}
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(recover)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    outputs = [racer.communicate(timeout=60)[0].split() for racer in racers]
    recovered = sorted(int(out[0]) for out in outputs)
    assert recovered == [0, 200]  # one of them claimed the orphan, the other found it locked
    assert all(out[1] == "True" for out in outputs)
    received = bed.uuids(bed.delivered_messages)
    assert len(received) == 200
    assert set(received) == captured


def test_a_torn_last_record_is_ignored_and_the_rest_recovered(
    tmp_path: Path, bed: HttpBed, run_script: RunScript
) -> None:
    captured = run_script(_killed_writer(tmp_path, 10)).stdout.split()
    [segment] = tmp_path.glob("*.oak")
    with segment.open("ab") as torn:
        torn.write(b"\x00\x00\x01\x00garbage")  # a header promising 256 bytes, then the crash
    with OakClient(SECRET_KEY, host=bed.url, spool_path=tmp_path) as oak:
        assert oak.stats().recovered == 10
        assert oak.flush(timeout=WAIT)
    assert sorted(bed.uuids(bed.delivered_messages)) == sorted(captured)


def test_delivered_segments_are_deleted(tmp_path: Path, bed: HttpBed) -> None:
    with OakClient(SECRET_KEY, host=bed.url, spool_path=tmp_path) as oak:
        for i in range(50):
            oak.capture("user_1", "e", {"i": i})
        assert oak.flush(timeout=WAIT)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_spools_its_own_events_and_the_parent_keeps_its_own(
    tmp_path: Path, bed: HttpBed
) -> None:
    oak = OakClient(SECRET_KEY, host=bed.url, spool_path=tmp_path, flush_at=1000)
    parent_event = oak.capture("parent", "before_fork")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: capture, shut down, report, and leave without cleanup
        code = 1
        try:
            child_event = oak.capture("child", "in_child")
            delivered = oak.shutdown(timeout=WAIT)
            os.write(write_end, f"{child_event} {delivered}".encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    child_event, child_delivered = os.read(read_end, 200).decode().split()
    os.close(read_end)
    assert os.waitstatus_to_exitcode(status) == 0
    assert child_delivered == "True"
    assert oak.shutdown(timeout=WAIT)
    received = bed.uuids(bed.delivered_messages)
    assert sorted(received) == sorted([parent_event, child_event])


def test_without_spool_path_nothing_is_written_to_disk(
    tmp_path: Path, bed: HttpBed, run_script: RunScript
) -> None:
    script = f"""
        import os, sys
        writes = []
        def audit(event, args):
            if event == "open":  # open() passes a mode, os.open() flags
                mode, flags = args[1], args[2]
                writing = isinstance(mode, str) and any(c in mode for c in "wax+")
                if isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
                    writing = True
                if writing:
                    writes.append(str(args[0]))
            elif event in ("os.mkdir", "os.rename", "os.remove", "os.truncate"):
                writes.append(event)
        from oakdata import AsyncOakClient, OakClient
        sys.addaudithook(audit)
        oak = OakClient({SECRET_KEY!r}, host={bed.url!r}, spool_path=SPOOL)
        for i in range(100):
            oak.capture("user_1", "e", {{"i": i}})
        print(oak.shutdown(timeout=20), len(writes))
        """
    without = run_script(script.replace("SPOOL", "None"))
    assert without.returncode == 0, without.stderr
    assert without.stdout.split() == ["True", "0"]
    assert len(bed.delivered_messages) == 100
    # The same audit does see a spooling client write: the check above can fail.
    spooling = run_script(script.replace("SPOOL", repr(str(tmp_path))))
    assert spooling.returncode == 0, spooling.stderr
    assert spooling.stdout.split()[0] == "True"
    assert int(spooling.stdout.split()[1]) > 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"spool_path": ""}, "spool_path must be a directory path"),
        ({"spool_path": 42}, "spool_path must be a directory path"),
        ({"spool_max_bytes": 1000}, "spool_max_bytes must be an integer of at least"),
    ],
)
def test_bad_spool_options_fail_fast_with_one_sentence(
    tmp_path: Path, options: dict[str, object], message: str
) -> None:
    settings: dict[str, object] = {"spool_path": tmp_path, **options}
    with pytest.raises(ValueError, match=message):
        OakClient(SECRET_KEY, host="http://127.0.0.1:9", **settings)  # type: ignore[arg-type]


def test_a_spool_path_that_is_a_file_fails_fast(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    with pytest.raises(ValueError, match="spool_path cannot be used"):
        OakClient(SECRET_KEY, host="http://127.0.0.1:9", spool_path=not_a_directory)
