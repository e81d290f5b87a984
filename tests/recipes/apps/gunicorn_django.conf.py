"""gunicorn settings for the Django recipe: flush each worker's client as the worker exits."""


def worker_exit(server, worker):  # type: ignore[no-untyped-def]
    from oakdata.integrations.django import client

    delivered = client().shutdown(timeout=5)
    worker.log.info("oakdata shutdown delivered=%s pid=%s", delivered, worker.pid)
