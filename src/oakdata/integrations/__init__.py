"""Framework integrations, one module each; none is imported by ``import oakdata``.

- ``oakdata.integrations.django``: a middleware that opens a context per request, and the
  process's client made from settings.
- ``oakdata.integrations.flask``: an extension that makes the client from ``app.config``
  and opens a context per request.
- ``oakdata.integrations.asgi``: a middleware for any ASGI app (FastAPI, Starlette).
- ``oakdata.integrations.celery``: the context travels with each task; workers flush as
  they stop, prefork pool processes included.

Each imports only its own framework. None captures an event by itself.
"""
