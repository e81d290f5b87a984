"""Celery with a real worker: prefork pool of 2, the filesystem broker, stopped with SIGTERM
(warm shutdown). Every event a task captured arrives once."""

from __future__ import annotations

import re
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from celery import Celery

from httpbed import HttpBed
from oakdata import context
from oakdata.integrations import celery as oakdata_celery

from .conftest import Child, assert_received_exactly, child_env

# Not a multiple of flush_at (20) for any split between the two pool processes, so some
# events always wait in a pool process when it is told to stop.
TASKS = 45
SUCCEEDED = re.compile(r"Task recipe_celery\.\w+\[[0-9a-f-]+\] succeeded in .*: '(.+)'")


def _sender(broker_dir: Path) -> Celery:
    """The producer side, as a web app would have it: same broker, no task code, the
    integration connected (it attaches the context to what is sent)."""
    oakdata_celery.connect()
    app = Celery("producer")
    (broker_dir / "outbox").mkdir()
    app.conf.update(
        broker_url="filesystem://",
        broker_transport_options={
            "data_folder_in": str(broker_dir),
            # Written aside, then moved in whole (_post): kombu's filesystem transport
            # writes a message file in place, and a worker reading it half-written dies
            # of a JSONDecodeError (seen once under load).
            "data_folder_out": str(broker_dir / "outbox"),
            # Else kombu writes its exchange table to ./control in the working directory.
            "control_folder": str(broker_dir / "control"),
        },
    )
    return app


def _start_worker(bed: HttpBed, spawn: Callable[..., Child], tmp_path: Path) -> tuple[Child, Path]:
    broker_dir = tmp_path / "broker"
    (broker_dir / "control").mkdir(parents=True)
    worker = spawn(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "recipe_celery",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            "2",
            "--loglevel",
            "info",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        child_env(bed, RECIPE_CELERY_BROKER_DIR=str(broker_dir)),
        cwd=tmp_path,
    )
    worker.wait_for(lambda: bool(worker.lines_matching(" ready.")), "worker ready")
    return worker, broker_dir


def _post(broker_dir: Path) -> None:
    """Move what the producer wrote into the worker's folder, each file in one rename."""
    for message in sorted((broker_dir / "outbox").iterdir()):
        message.replace(broker_dir / message.name)


def _succeeded(worker: Child) -> list[str]:
    return [m.group(1) for line in worker.stderr if (m := SUCCEEDED.search(line))]


def _stop_and_check_flushes(worker: Child, tasks: int) -> list[str]:
    """Wait for every task, stop the worker warm; each pool process flushed on its way out."""
    worker.wait_for(lambda: len(_succeeded(worker)) >= tasks, f"{tasks} tasks succeeded")
    worker.signal(signal.SIGTERM)
    assert worker.wait_exit() == 0, worker.output()
    pool_flushes = [
        line
        for line in worker.lines_matching("oakdata shutdown delivered=True")
        if "ForkPoolWorker" in line
    ]
    assert len(pool_flushes) == 2, worker.output()
    assert not worker.lines_matching("oakdata shutdown delivered=False"), worker.output()
    captured = _succeeded(worker)
    assert len(captured) == tasks
    return captured


def test_prefork_worker_delivers_every_task_event_once_on_warm_shutdown(
    bed: HttpBed, spawn: Callable[..., Child], tmp_path: Path
) -> None:
    worker, broker_dir = _start_worker(bed, spawn, tmp_path)

    producer = _sender(broker_dir)
    for n in range(TASKS):
        producer.send_task("recipe_celery.send_welcome", args=[f"user_{n}"])
    _post(broker_dir)

    assert_received_exactly(bed, _stop_and_check_flushes(worker, TASKS))


def test_a_task_sent_in_a_context_runs_in_it_on_a_prefork_worker(
    bed: HttpBed, spawn: Callable[..., Child], tmp_path: Path
) -> None:
    worker, broker_dir = _start_worker(bed, spawn, tmp_path)
    producer = _sender(broker_dir)

    # Interleaved, so that each pool process runs tasks of both kinds in turn: a task's
    # context must end with the task, not leak into the next one.
    for n in range(TASKS):
        if n % 2:
            producer.send_task("recipe_celery.send_welcome", args=[f"user_{n}"])
        else:
            with context(distinct_id=f"buyer_{n}", properties={"request_id": f"r-{n}"}):
                producer.send_task("recipe_celery.send_receipt", args=[n])
    _post(broker_dir)

    captured = _stop_and_check_flushes(worker, TASKS)
    assert_received_exactly(bed, captured)
    by_event: dict[str, list[dict]] = {}
    for message in bed.messages:
        by_event.setdefault(message["event"], []).append(message)
    receipts, welcomes = by_event["receipt_sent"], by_event["welcome_email_sent"]
    assert len(receipts) == (TASKS + 1) // 2
    assert len(welcomes) == TASKS // 2
    for message in receipts:
        n = message["properties"]["amount"]
        assert message["distinct_id"] == f"buyer_{n}"
        assert message["properties"]["request_id"] == f"r-{n}"
    for message in welcomes:
        assert "request_id" not in message["properties"]
