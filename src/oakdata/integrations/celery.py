"""Celery: the oakdata.context a task is sent in is active while it runs; workers flush.

    # where the Celery app is defined (imported by the web app and by the worker)
    from oakdata import OakClient
    from oakdata.integrations import celery as oakdata_celery

    oak = OakClient()
    oakdata_celery.connect(oak)

    # in a request (say inside the Django middleware's context)
    send_welcome.delay()            # the task runs in the request's context:
    @app.task
    def send_welcome():
        oak.capture(event="welcome_email_sent")   # the request's user id and properties

When a task is published inside a context, its id and properties travel in a task header
(JSON text, whatever the task serializer), and the task runs inside a context made from
them. A task sent outside any context runs without one.

connect(client) also shuts the client down as each worker process stops, within
shutdown_timeout seconds: prefork pool processes end with os._exit(), which skips the
exit hook, so worker_process_shutdown is where they flush; worker_shutdown covers the main
process (the solo and threads pools run tasks there).
"""

from __future__ import annotations

import json
import os
import threading

from celery.signals import (  # type: ignore[import-untyped]
    before_task_publish,
    task_postrun,
    task_prerun,
    worker_process_shutdown,
    worker_shutdown,
)

from .. import _log
from .._context import CURRENT, context
from .._encoding import Encoder

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .._client import OakClient

__all__ = ["HEADER", "connect"]

HEADER = "oakdata_context"

# Contexts opened by task_prerun, closed by task_postrun of the same task id.
_open: dict[str, context] = {}
_open_lock = threading.Lock()


def connect(client: OakClient | None = None, *, shutdown_timeout: float = 5.0) -> None:
    """Carry contexts with tasks; with a client, shut it down as worker processes stop.

    Call it once per process, where the Celery app is defined; calling it again replaces
    the earlier connection (signals are connected with a dispatch_uid)."""
    before_task_publish.connect(_attach_context, weak=False, dispatch_uid=HEADER)
    task_prerun.connect(_enter_context, weak=False, dispatch_uid=HEADER)
    task_postrun.connect(_leave_context, weak=False, dispatch_uid=HEADER)
    if client is None:
        return

    def flush(main: bool) -> None:
        delivered = client.shutdown(timeout=shutdown_timeout)
        # Info when all went out, a warning when the timeout left events behind.
        log = _log.logger().info if delivered is True else _log.warning
        log("oakdata shutdown delivered=%s pid=%s%s", delivered, os.getpid(), " main" * main)

    worker_process_shutdown.connect(
        lambda **_: flush(main=False), weak=False, dispatch_uid=f"{HEADER}.process"
    )
    worker_shutdown.connect(lambda **_: flush(main=True), weak=False, dispatch_uid=f"{HEADER}.main")


def _attach_context(headers: dict[str, Any] | None = None, **_: Any) -> None:
    frame = CURRENT.get()
    if frame is None or headers is None:
        return
    # As JSON text made by oakdata's encoder: any property value a capture accepts
    # survives any task serializer, and publishing never fails because of analytics.
    body = {"distinct_id": frame.distinct_id, "properties": frame.properties}
    headers[HEADER] = Encoder().encode(body).decode()


def _enter_context(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    carried = _carried(task)
    if carried is None or task_id is None:
        return
    try:
        described = json.loads(carried)
        opened = context(described.get("distinct_id"), described.get("properties") or {})
    except (ValueError, TypeError, AttributeError):
        _log.warning("oakdata: a task's %s header is not what oakdata wrote; ignored", HEADER)
        return
    opened.__enter__()
    with _open_lock:
        _open[task_id] = opened


def _leave_context(task_id: str | None = None, **_: Any) -> None:
    with _open_lock:
        opened = _open.pop(task_id, None) if task_id is not None else None
    if opened is not None:
        opened.__exit__(None, None, None)


def _carried(task: Any) -> Any:
    """The header as the worker received it: protocol 2 puts custom headers on the
    request itself; some brokers nest them under request.headers."""
    request = getattr(task, "request", None)
    if request is None:
        return None
    carried = getattr(request, HEADER, None)
    if carried is None:
        carried = (getattr(request, "headers", None) or {}).get(HEADER)
    return carried
