"""POST /api/oak/ingest and its CORS preflight, as docs/protocol.md describes them.

Checks run cheapest first and all of them before anything is stored: key, origin, rate, size,
gzip, JSON, envelope, then each message. A public key may also come in the query (`?key=`) or
the envelope (`"api_key"`), for `navigator.sendBeacon`, which cannot set a header, and to spare
browsers a CORS preflight (protocol 1.1); a key in the envelope is only known once the body is
parsed, so those checks run after it. A secret key is never accepted there: URLs and bodies
end up in logs, and a key put there by mistake must fail at once rather than work.

Once the key is known from the header or the query, fastpath.py may judge a well-formed body
on its own; anything it finds unusual (a key in the envelope, a person operator, any invalid
message) is parsed and judged again here by validation.py, which alone decides the answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from oakdata_server.body import decode_body, read_limited
from oakdata_server.errors import IngestError, error_response
from oakdata_server.fastpath import fast_validate
from oakdata_server.group_commit import GroupCommit
from oakdata_server.keys import hashes_match, key_kind, lookup_id, normalize_origin
from oakdata_server.logsummary import SummaryLog
from oakdata_server.ratelimit import KeyLimits, RateLimiter, retry_after_header
from oakdata_server.settings import Settings
from oakdata_server.storage import IngestRequest, KeyRecord, Storage, StorageUnavailable
from oakdata_server.validation import (
    MESSAGE_TYPES,
    PUBLIC_KEY_TYPES,
    Rejection,
    ValidMessage,
    parse_envelope,
    parse_json,
    validate_batch,
)

PREFLIGHT_MAX_AGE_SECONDS = 600
KEY_QUERY_PARAMETER = "key"
KEY_ENVELOPE_FIELD = "api_key"


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


class IngestEndpoint:
    def __init__(
        self, settings: Settings, storage: Storage, limits: KeyLimits, refusals: SummaryLog
    ) -> None:
        self._settings = settings
        self._storage = storage
        self._limits = limits
        self._refusals = refusals  # counted for the log; each is also in its request's answer
        self._group_commit = GroupCommit(storage.ingest_many, stores=storage.stores_at_once)

    async def preflight(self, request: Request) -> Response:
        headers = await self._cors_headers(request)
        if not headers:
            return error_response(
                403, "origin_not_allowed", "This origin is not registered with any public key."
            )
        headers.update(
            {
                "Access-Control-Allow-Methods": "POST, OPTIONS",
                "Access-Control-Allow-Headers": "Authorization, Content-Type, Content-Encoding",
                "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECONDS),
            }
        )
        return Response(status_code=204, headers=headers)

    async def ingest(self, request: Request) -> Response:
        received_at = datetime.now(timezone.utc)
        try:
            cors = await self._cors_headers(request)
        except StorageUnavailable:
            cors = {}
        try:
            response = await self._ingest(request, received_at)
        except IngestError as error:
            response = error_response(error.status, error.code, error.message, error.headers)
        except StorageUnavailable:
            response = error_response(
                503, "storage_unavailable", "The database is busy; retry shortly."
            )
        except ClientDisconnect:
            # The client left (or was cut off for sending too slowly): nobody reads this
            # answer, and it is no error of the server's worth a traceback.
            response = error_response(400, "client_disconnected", "The body did not arrive.")
        response.headers.update(cors)
        return response

    async def _ingest(self, request: Request, received_at: datetime) -> Response:
        query_key = _public_key_only(
            request.query_params.get(KEY_QUERY_PARAMETER), "the query string"
        )
        key = bearer_token(request) or query_key
        record = None if key is None else await self._admit(key, request)
        body = await read_limited(
            request.stream(), request.headers.get("content-length"), self._settings.max_body_bytes
        )
        if record is not None:
            self._spend(self._limits.bytes, record, len(body), "bytes")
        # Inflating and parsing up to 2 MiB is CPU work: keep it off the event loop.
        document, fast = await run_in_threadpool(
            self._parse, body, request.headers.get("content-encoding"), record, received_at
        )
        rejected: list[Rejection] = []
        indices: Sequence[int]  # of the messages in the batch
        if fast is not None and record is not None:
            messages, indices = fast, range(len(fast))
        else:
            record, valid, rejected = await self._judge(
                document, record, body, request, received_at
            )
            messages, indices = [m for _, m in valid], [i for i, _ in valid]
        self._spend(self._limits.events, record, len(messages) + len(rejected), "events")
        result = await self._group_commit.ingest(
            record.project_id, IngestRequest(messages, received_at, record.kind == "secret")
        )
        refused = [Rejection(indices[position], reason) for position, reason in result.refused]
        if refused:
            self._refusals.note("links from a public key", len(refused))
        return JSONResponse(
            {
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                "rejected": [
                    {"index": r.index, "reason": r.reason}
                    for r in sorted([*rejected, *refused], key=lambda r: r.index)
                ],
            }
        )

    async def _judge(
        self,
        document: Any,
        record: KeyRecord | None,
        body: bytes,
        request: Request,
        received_at: datetime,
    ) -> tuple[KeyRecord, list[tuple[int, ValidMessage]], list[Rejection]]:
        """The slow path: the key in the envelope, then each message validated on its own."""
        in_envelope = document.get(KEY_ENVELOPE_FIELD) if isinstance(document, dict) else None
        envelope_key = _public_key_only(in_envelope, "the request body")
        if record is None:
            if envelope_key is None:
                raise IngestError(
                    401,
                    "missing_key",
                    "Send the key as 'Authorization: Bearer <key>' (a public key may also come"
                    ' as ?key= or in the body\'s "api_key").',
                )
            record = await self._admit(envelope_key, request)
            self._spend(self._limits.bytes, record, len(body), "bytes")
        valid, rejected = await run_in_threadpool(self._validate, document, record, received_at)
        return record, valid, rejected

    async def _admit(self, key: str, request: Request) -> KeyRecord:
        """The key's record once its origin is checked and a request is spent from its rate."""
        record = await self._authenticate(key)
        if record.kind == "public":
            self._check_origin(record, request.headers.get("origin"))
        self._spend(self._limits.requests, record, 1, "requests")
        return record

    def _spend(self, limiter: RateLimiter, record: KeyRecord, amount: int, what: str) -> None:
        wait = limiter.acquire(str(record.id), amount)
        if wait > 0:
            self._refusals.note(f"rate-limited {what}")
            raise IngestError(
                429,
                "rate_limited",
                f"Too many {what} for this key; retry after the time Retry-After gives.",
                {"Retry-After": retry_after_header(wait)},
            )

    def _parse(
        self, body: bytes, encoding: str | None, record: KeyRecord | None, received_at: datetime
    ) -> tuple[Any, list[ValidMessage] | None]:
        """(None, the valid messages) when the fast path judged the whole body, else
        (the parsed document, None). Without a key yet (it may be in the envelope) the fast
        path is not tried: its envelope has no api_key field."""
        body = decode_body(body, encoding, self._settings.max_decompressed_bytes)
        if record is not None:
            fast = fast_validate(
                body, self._settings.max_batch_messages, record.kind == "public", received_at
            )
            if fast is not None:
                return None, fast
        # Anything unusual, invalid or refused is judged, and answered, by the slow path.
        return parse_json(body), None

    def _validate(
        self, document: Any, record: KeyRecord, received_at: datetime
    ) -> tuple[list[tuple[int, ValidMessage]], list[Rejection]]:
        batch, sent_at = parse_envelope(document, self._settings.max_batch_messages)
        if record.kind == "public" and any(_forbidden_for_public(m) for m in batch):
            raise IngestError(
                403,
                "message_type_not_allowed",
                "Public keys may send capture, identify and alias only.",
            )
        return validate_batch(batch, sent_at, received_at)

    async def _authenticate(self, key: str) -> KeyRecord:
        if key_kind(key) is not None:
            for record in await run_in_threadpool(self._storage.find_active_keys, lookup_id(key)):
                if hashes_match(key, record.key_hash):
                    return record
        raise IngestError(401, "invalid_key", "The key is unknown or has been revoked.")

    @staticmethod
    def _check_origin(record: KeyRecord, origin: str | None) -> None:
        if origin is None or normalize_origin(origin) not in record.origins:
            raise IngestError(
                403, "origin_not_allowed", "This origin is not registered with the public key."
            )

    async def _cors_headers(self, request: Request) -> dict[str, str]:
        origin = request.headers.get("origin")
        if origin is None:
            return {}
        if not await run_in_threadpool(self._storage.origin_registered, normalize_origin(origin)):
            return {}
        # Retry-After is not a header scripts may read cross-origin unless it is exposed,
        # and the browser SDK needs it to honour a 429.
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Expose-Headers": "Retry-After",
            "Vary": "Origin",
        }


def _public_key_only(key: Any, where: str) -> str | None:
    """A key found outside the Authorization header: None if absent; refused unless public."""
    if key is None:
        return None
    if not isinstance(key, str) or key_kind(key) != "public":
        # Refused even when it is a valid secret key: it must not work from a URL or a body.
        raise IngestError(
            403,
            "key_not_allowed_here",
            f"Only a public key may be sent in {where}; send a secret key in the"
            " Authorization header.",
        )
    return key


def _forbidden_for_public(message: Any) -> bool:
    # Only a known type that public keys may not send refuses the request; an unknown type is
    # an invalid message, rejected by index like any other.
    return (
        isinstance(message, dict)
        and message.get("type") in MESSAGE_TYPES
        and message.get("type") not in PUBLIC_KEY_TYPES
    )
