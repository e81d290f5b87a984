"""The ASGI app factory: routes declared here, in one place; no import-time globals.

Starlette because it is small (routing, requests, responses and nothing we would have to turn
off), typed, well kept, and the ASGI toolkit uvicorn and FastAPI are built on; the server needs
no ORM, no dependency injection and no model layer, so a larger framework would only add weight.
"""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from oakdata_server.console import Console
from oakdata_server.errors import error_response
from oakdata_server.ingest import IngestEndpoint
from oakdata_server.logsummary import SummaryLog
from oakdata_server.openapi import openapi_json
from oakdata_server.ratelimit import KeyLimits
from oakdata_server.read import ReadEndpoints
from oakdata_server.settings import Settings
from oakdata_server.static_files import StaticFiles
from oakdata_server.storage import Storage

_log = logging.getLogger("oakdata.server")
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


def create_app(settings: Settings, storage: Storage) -> Starlette:
    """The server; the caller owns `storage` and closes it after the app stops."""
    limits = KeyLimits(
        settings.rate_limit_per_second,
        settings.rate_limit_burst,
        settings.rate_limit_events_per_second,
        settings.rate_limit_bytes_per_second,
        min_event_burst=settings.max_batch_messages,
        min_byte_burst=settings.max_body_bytes,
    )
    ingest = IngestEndpoint(settings, storage, limits, SummaryLog(_log))
    read = ReadEndpoints(settings, storage)
    document = openapi_json()
    static = StaticFiles()

    async def openapi(_: Request) -> Response:
        return Response(document, media_type="application/json")

    async def health(_: Request) -> Response:
        # For load balancers: no key, no data; only whether the process answers.
        return JSONResponse({"status": "ok"})

    routes = [
        Route("/api/oak/ingest", ingest.ingest, methods=["POST"]),
        Route("/api/oak/ingest", ingest.preflight, methods=["OPTIONS"]),
        Route("/api/oak/persons/{distinct_id}/timeline", read.timeline, methods=["GET"]),
        Route("/api/oak/groups/{group_type}/{group_key}", read.group, methods=["GET"]),
        Route("/api/oak/persons/timeline", read.timeline, methods=["GET"]),
        Route("/api/oak/health", health, methods=["GET"]),
        Route("/api/oak/openapi.json", openapi, methods=["GET"]),
        Route("/static/{name}", static.serve, methods=["GET"]),
        *Console(settings, storage).routes(),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
    )


async def _http_error(_: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    code = _HTTP_CODES.get(status, "http_error")
    return error_response(status, code, f"{code.replace('_', ' ').capitalize()}.")


async def _internal_error(_: Request, __: Exception) -> Response:
    # Never echo the exception: it could carry property values or paths.
    return error_response(500, "internal_error", "The server failed; retrying is safe.")
