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

from .conftest import Child, assert_received_exactly, child_env

# Not a multiple of flush_at (20) for any split between the two pool processes, so some
# events always wait in a pool process when it is told to stop.
TASKS = 45
SUCCEEDED = re.compile(r"Task recipe_celery\.send_welcome\[[0-9a-f-]+\] succeeded in .*: '(.+)'")


def _sender(broker_dir: Path) -> Celery:
    """The producer side, as a web app would have it: same broker, no task code."""
    app = Celery("producer")
    app.conf.update(
        broker_url="filesystem://",
        broker_transport_options={
            "data_folder_in": str(broker_dir),
            "data_folder_out": str(broker_dir),
            # Else kombu writes its exchange table to ./control in the working directory.
            "control_folder": str(broker_dir / "control"),
        },
    )
    return app


def test_prefork_worker_delivers_every_task_event_once_on_warm_shutdown(
    bed: HttpBed, spawn: Callable[..., Child], tmp_path: Path
) -> None:
    broker_dir = tmp_path / "broker"
    (broker_dir / "control").mkdir(parents=True)
    worker = spawn(
        [sys.executable, "-m", "celery", "-A", "recipe_celery", "worker",
         "--pool", "prefork", "--concurrency", "2", "--loglevel", "info",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        child_env(bed, RECIPE_CELERY_BROKER_DIR=str(broker_dir)),
        cwd=tmp_path,
    )
    worker.wait_for(lambda: bool(worker.lines_matching(" ready.")), "worker ready")

    producer = _sender(broker_dir)
    for n in range(TASKS):
        producer.send_task("recipe_celery.send_welcome", args=[f"user_{n}"])

    def succeeded() -> list[str]:
        return [m.group(1) for line in worker.stderr if (m := SUCCEEDED.search(line))]

    worker.wait_for(lambda: len(succeeded()) >= TASKS, f"{TASKS} tasks succeeded")
    worker.signal(signal.SIGTERM)
    assert worker.wait_exit() == 0, worker.output()

    captured = succeeded()
    assert len(captured) == TASKS
    assert_received_exactly(bed, captured)
    pool_flushes = [
        line for line in worker.lines_matching("oakdata shutdown delivered=True")
        if "ForkPoolWorker" in line
    ]
    assert len(pool_flushes) == 2, worker.output()
    assert not worker.lines_matching("oakdata shutdown delivered=False"), worker.output()
