"""gunicorn settings for the Flask recipe: flush each worker's client as the worker exits."""


def worker_exit(server, worker):  # type: ignore[no-untyped-def]
    # worker.wsgi is the app this worker served; the client on it is the worker's own.
    delivered = worker.wsgi.extensions["oakdata"].shutdown(timeout=5)
    worker.log.info("oakdata shutdown delivered=%s pid=%s", delivered, worker.pid)
