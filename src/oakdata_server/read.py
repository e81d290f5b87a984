"""Reading: a person's stitched timeline and a group, for the admin token only.

Ingest keys never read: a leaked secret key can add events but not take the data away.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from oakdata_server.errors import IngestError, error_response
from oakdata_server.ingest import bearer_token
from oakdata_server.settings import Settings
from oakdata_server.storage import Position, Storage, StorageUnavailable, StoredEvent

DEFAULT_PROJECT = "default"
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_EVENT_ID = 2**63 - 1  # the largest row id a database hands out
_LIMIT = re.compile(r"[0-9]{1,7}")
_STORED_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")


class ReadEndpoints:
    def __init__(self, settings: Settings, storage: Storage) -> None:
        self._settings = settings
        self._storage = storage

    async def timeline(self, request: Request) -> Response:
        return await self._answer(request, self._timeline)

    async def group(self, request: Request) -> Response:
        return await self._answer(request, self._group)

    async def _answer(self, request: Request, handler: Any) -> Response:
        try:
            self._authorize(request)
            return JSONResponse(await handler(request))
        except IngestError as error:
            return error_response(error.status, error.code, error.message)
        except StorageUnavailable:
            return error_response(503, "storage_unavailable", "The database is busy; retry.")

    async def _timeline(self, request: Request) -> dict[str, Any]:
        # An id holding '/' cannot be a path segment (a decoded %2F splits the path), so the
        # id may also come as ?distinct_id=, which reaches every id that can be stored.
        distinct_id = request.path_params.get("distinct_id") or request.query_params.get(
            "distinct_id"
        )
        if not distinct_id:
            raise IngestError(400, "invalid_parameter", "distinct_id is required.")
        project_id, project = await self._project(request)
        limit, after = page_parameters(request)
        timeline = await run_in_threadpool(
            self._storage.timeline, project_id, distinct_id, limit, after
        )
        if timeline is None:
            raise IngestError(404, "person_not_found", "No person has this distinct id.")
        return {
            "project": project,
            "distinct_id": distinct_id,
            "distinct_ids": timeline.distinct_ids,
            "distinct_id_count": timeline.distinct_id_count,
            "properties": timeline.properties,
            "events": [event_json(e) for e in timeline.events],
            "next_cursor": encode_cursor(timeline.next_position),
        }

    async def _group(self, request: Request) -> dict[str, Any]:
        group_type = request.path_params["group_type"]
        group_key = request.path_params["group_key"]
        project_id, project = await self._project(request)
        limit, after = page_parameters(request)
        group = await run_in_threadpool(
            self._storage.group, project_id, group_type, group_key, limit, after
        )
        if group is None:
            raise IngestError(404, "group_not_found", "No group has this type and key.")
        return {
            "project": project,
            "group_type": group_type,
            "group_key": group_key,
            "properties": group.properties,
            "events": [event_json(e) for e in group.events],
            "next_cursor": encode_cursor(group.next_position),
        }

    def _authorize(self, request: Request) -> None:
        expected = self._settings.admin_token
        if expected is None:
            raise IngestError(
                401, "reading_disabled", "The server has no admin token, so reading is disabled."
            )
        token = bearer_token(request)
        if token is None:
            raise IngestError(401, "missing_token", "Send 'Authorization: Bearer <admin token>'.")
        if not hmac.compare_digest(token.encode("utf-8", "surrogatepass"), expected.encode()):
            raise IngestError(401, "invalid_token", "The admin token is wrong.")

    async def _project(self, request: Request) -> tuple[int, str]:
        name = request.query_params.get("project", DEFAULT_PROJECT)
        project = await run_in_threadpool(self._storage.get_project, name)
        if project is None:
            raise IngestError(404, "project_not_found", f"No project is named {name[:200]!r}.")
        return project.id, project.name


def page_parameters(request: Request) -> tuple[int, Position | None]:
    raw_limit = request.query_params.get("limit", str(DEFAULT_PAGE_SIZE))
    # Not str.isdigit(): it is true for '²' and other digits int() refuses.
    if _LIMIT.fullmatch(raw_limit) is None or not 1 <= int(raw_limit) <= MAX_PAGE_SIZE:
        raise IngestError(
            400, "invalid_parameter", f"limit must be an integer from 1 to {MAX_PAGE_SIZE}."
        )
    cursor = request.query_params.get("cursor")
    return int(raw_limit), None if cursor is None else decode_cursor(cursor)


def encode_cursor(position: Position | None) -> str | None:
    if position is None:
        return None
    raw = json.dumps([position.timestamp, position.event_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        timestamp, event_id = json.loads(base64.urlsafe_b64decode(padded))
        if (
            isinstance(timestamp, str)
            and _STORED_TIMESTAMP.fullmatch(timestamp)
            and type(event_id) is int
            and 0 <= event_id <= MAX_EVENT_ID
        ):
            return Position(timestamp, event_id)
    except (ValueError, TypeError, binascii.Error):
        pass
    raise IngestError(400, "invalid_parameter", "cursor is not one this server handed out.")


def event_json(event: StoredEvent) -> dict[str, Any]:
    return {
        "uuid": event.uuid,
        "event": event.event,
        "distinct_id": event.distinct_id,
        "timestamp": event.timestamp,
        "client_timestamp": event.client_timestamp,
        "received_at": event.received_at,
        "properties": event.properties,
        "groups": event.groups,
    }
