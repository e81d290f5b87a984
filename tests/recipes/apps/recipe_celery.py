"""The Celery recipe (docs/recipes/celery.md): tasks capture with the process's client;
oakdata.integrations.celery carries the sender's context into each task and flushes each
process as it stops.

The client is made at import, in the worker's main process; the prefork pool's processes
are forked from it and oakdata gives each a fresh queue and thread (fork safety), so
worker_process_init needs nothing. Pool processes end with os._exit(), which skips atexit:
the integration flushes them on worker_process_shutdown, and the main process (where the
solo and threads pools run tasks) on worker_shutdown.
"""

from __future__ import annotations

import os

from celery import Celery

from oakdata import OakClient
from oakdata.integrations import celery as oakdata_celery

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
oakdata_celery.connect(oak, shutdown_timeout=5)


@app.task
def send_welcome(user_id: str) -> str | None:
    return oak.capture(user_id, "welcome_email_sent", {"template": "welcome_v2"})


@app.task
def send_receipt(amount: int) -> str | None:
    # No id: the context the task was sent in gives it (a request's signed-in user, say).
    return oak.capture(event="receipt_sent", properties={"amount": amount})
