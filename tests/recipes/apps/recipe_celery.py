"""The Celery recipe (docs/recipes/celery.md): tasks capture with the process's client; each
process flushes as it stops.

The client is made at import, in the worker's main process; the prefork pool's processes
are forked from it and oakdata gives each a fresh queue and thread (fork safety), so
worker_process_init needs nothing. Pool processes end with os._exit(), which skips atexit:
worker_process_shutdown is where they flush. worker_shutdown covers the main process (the
solo and threads pools run tasks there).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery
from celery.signals import worker_process_shutdown, worker_shutdown

from oakdata import OakClient

logger = logging.getLogger(__name__)

app = Celery("recipe_celery")
# The filesystem broker keeps the test free of a broker server; use your real broker URL.
broker_dir = os.environ.get("RECIPE_CELERY_BROKER_DIR", "/tmp/recipe-celery-broker")
app.conf.update(
    broker_url="filesystem://",
    broker_transport_options={
        "data_folder_in": broker_dir,
        "data_folder_out": broker_dir,
        "control_folder": os.path.join(broker_dir, "control"),
        "polling_interval": 0.05,
    },
    worker_hijack_root_logger=True,
    task_acks_late=False,
)

oak = OakClient()  # $OAK_SECRET_KEY and $OAK_HOST


@app.task
def send_welcome(user_id: str) -> str | None:
    return oak.capture(user_id, "welcome_email_sent", {"template": "welcome_v2"})


@worker_process_shutdown.connect
def flush_pool_process(**kwargs: Any) -> None:
    delivered = oak.shutdown(timeout=5)
    logger.warning("oakdata shutdown delivered=%s pid=%s", delivered, os.getpid())


@worker_shutdown.connect
def flush_main_process(**kwargs: Any) -> None:
    delivered = oak.shutdown(timeout=5)
    logger.warning("oakdata shutdown delivered=%s pid=%s main", delivered, os.getpid())
