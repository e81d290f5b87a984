"""The web console at /: sign in with the admin token; API keys, persons, live events, a chart.

Pages are Jinja2 templates with autoescaping on for every template: event names, ids and
properties come from browsers and are shown as text, never as markup. A strict
Content-Security-Policy (scripts from this server only, no inline script) is a second line
behind the escaping, not a replacement for it. Forms carry the session's CSRF token, and a
POST whose Origin is another site is refused before that.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

from jinja2 import Environment, PackageLoader
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from oakdata_server.body import read_limited
from oakdata_server.console.chart import RANGES, build_chart
from oakdata_server.console.sessions import (
    COOKIE_NAME,
    LIFETIME_SECONDS,
    Session,
    Sessions,
    same_secret,
)
from oakdata_server.console.sign_in_limits import SignInLimits
from oakdata_server.errors import IngestError
from oakdata_server.keys import KeyKind, generate_key, hash_key, lookup_id, parse_origin
from oakdata_server.ratelimit import retry_after_header
from oakdata_server.settings import Settings
from oakdata_server.storage import Storage, StoredEvent
from oakdata_server.validation import format_timestamp

PROJECT = "default"  # the project the console creates keys in and shows
MAX_FORM_BYTES = 64 * 1024
LIVE_EVENTS = 50
PERSON_EVENTS = 500
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
        " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    # Not no-referrer: with it Chromium sends "Origin: null" on the console's own form posts.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # a shown-once key must not be kept by the browser
}


def source_of(event: StoredEvent) -> str:
    """Browser or server, as the sending library says in `$lib`."""
    lib = event.properties.get("$lib")
    if lib == "oakdata-js":
        return "browser"
    return "server" if isinstance(lib, str) and lib else "unknown"


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


class Console:
    def __init__(self, settings: Settings, storage: Storage) -> None:
        self._settings = settings
        self._storage = storage
        self._sessions = Sessions()
        self._sign_in_limits = SignInLimits(
            settings.sign_in_failures_per_minute, settings.sign_in_failures_per_minute_total
        )
        self._templates = Environment(
            loader=PackageLoader("oakdata_server", "console/templates"), autoescape=True
        )
        self._templates.filters["pretty"] = _pretty
        self._templates.globals["source_of"] = source_of

    def routes(self) -> list[Route]:
        return [
            Route("/", self.home, methods=["GET"]),
            Route("/sign-in", self.sign_in, methods=["POST"]),
            Route("/sign-out", self.sign_out, methods=["POST"]),
            Route("/keys", self.keys, methods=["GET"]),
            Route("/keys", self.create_key, methods=["POST"]),
            Route("/keys/revoke", self.revoke_key, methods=["POST"]),
            Route("/persons", self.persons, methods=["GET"]),
            Route("/events", self.events, methods=["GET"]),
            Route("/events/feed", self.events_feed, methods=["GET"]),
            Route("/chart", self.chart, methods=["GET"]),
        ]

    # rendering and sessions

    def _page(
        self, name: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any
    ) -> HTMLResponse:
        html = self._templates.get_template(name).render(**context)
        return HTMLResponse(html, status_code=status, headers={**_HEADERS, **(headers or {})})

    def _session(self, request: Request) -> Session | None:
        return self._sessions.find(request.cookies.get(COOKIE_NAME))

    async def _form(self, request: Request, session: Session | None) -> dict[str, str]:
        """The posted form, once the request is known to come from this console."""
        origin = request.headers.get("origin")
        # The host only, not the scheme: behind a TLS-terminating proxy the browser says
        # https while this server sees http.
        if origin is not None and urlsplit(origin).netloc != request.url.netloc:
            raise IngestError(403, "cross_origin", "This form was posted from another site.")
        body = await read_limited(
            request.stream(), request.headers.get("content-length"), MAX_FORM_BYTES
        )
        fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=20)
        form = {name: values[0] for name, values in fields.items()}
        if session is not None and not session.csrf_matches(form.get("csrf")):
            raise IngestError(403, "csrf", "The form is stale; reload the page and try again.")
        return form

    async def _posted(self, request: Request) -> tuple[Session, dict[str, str]] | Response:
        """The session and its form, or the answer to give instead (sign in; refused)."""
        session = self._session(request)
        if session is None:
            return RedirectResponse("/", status_code=303)
        try:
            return session, await self._form(request, session)
        except IngestError as error:
            return self._refusal(error)

    def _refusal(self, error: IngestError) -> HTMLResponse:
        return self._page("error.html", error.status, message=error.message)

    async def _project_id(self) -> int:
        project = await run_in_threadpool(self._storage.create_project, PROJECT)
        return project.id

    # pages

    async def home(self, request: Request) -> Response:
        if self._session(request) is not None:
            return RedirectResponse("/events", status_code=303)
        return self._page("sign_in.html", enabled=self._settings.admin_token is not None)

    async def sign_in(self, request: Request) -> Response:
        try:
            form = await self._form(request, None)
        except IngestError as error:
            return self._refusal(error)
        # Asked after the last await, so concurrent guesses cannot all pass before one counts.
        # uvicorn's address: the peer's, or X-Forwarded-For when a proxy on 127.0.0.1 sets it.
        address = request.client.host if request.client else "unknown"
        wait = self._sign_in_limits.wait(address)
        if wait > 0:
            seconds = retry_after_header(wait)
            return self._page(
                "sign_in.html", 429, {"Retry-After": seconds}, enabled=True, retry_after=seconds
            )
        expected = self._settings.admin_token
        given = form.get("token", "")
        if expected is None or not same_secret(given, expected):
            self._sign_in_limits.failed(address)
            return self._page("sign_in.html", 401, enabled=expected is not None, failed=True)
        session = self._sessions.create()
        response = RedirectResponse("/events", status_code=303)
        response.set_cookie(
            COOKIE_NAME,
            session.id,
            max_age=LIFETIME_SECONDS,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def sign_out(self, request: Request) -> Response:
        posted = await self._posted(request)
        if isinstance(posted, Response):
            return posted
        session, _ = posted
        self._sessions.end(session.id)
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(COOKIE_NAME, httponly=True, samesite="strict")
        return response

    async def keys(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return RedirectResponse("/", status_code=303)
        return await self._keys_page(session)

    async def _keys_page(self, session: Session, status: int = 200, **context: Any) -> HTMLResponse:
        keys = await run_in_threadpool(self._storage.list_keys)
        return self._page(
            "keys.html", status, session=session, page="keys", keys=keys[::-1], **context
        )

    async def create_key(self, request: Request) -> Response:
        posted = await self._posted(request)
        if isinstance(posted, Response):
            return posted
        session, form = posted
        kind: KeyKind = "public" if form.get("kind") == "public" else "secret"
        name = form.get("name", "").strip()[:200]
        try:
            origins = [parse_origin(o) for o in form.get("origins", "").split() if o]
            if kind == "public" and not origins:
                raise ValueError("A public key needs at least one origin.")
            if kind == "secret" and origins:
                raise ValueError("Origins only apply to public keys.")
        except ValueError as error:
            return await self._keys_page(session, 400, problem=str(error))
        key = generate_key(kind)
        project_id = await self._project_id()
        await run_in_threadpool(
            self._storage.create_key,
            project_id,
            kind,
            lookup_id(key),
            hash_key(key),
            name,
            origins,
        )
        return await self._keys_page(session, created=key, created_kind=kind)

    async def revoke_key(self, request: Request) -> Response:
        posted = await self._posted(request)
        if isinstance(posted, Response):
            return posted
        _, form = posted
        await run_in_threadpool(self._storage.revoke_key, form.get("key_id", ""))
        return RedirectResponse("/keys", status_code=303)

    async def persons(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return RedirectResponse("/", status_code=303)
        wanted = request.query_params.get("id", "").strip()
        found = None
        if wanted:
            project_id = await self._project_id()
            found = await run_in_threadpool(
                self._storage.timeline, project_id, wanted, PERSON_EVENTS, None
            )
        return self._page(
            "persons.html", session=session, page="persons", wanted=wanted, person=found
        )

    async def events(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return RedirectResponse("/", status_code=303)
        name = request.query_params.get("event", "").strip() or None
        project_id = await self._project_id()
        events = await run_in_threadpool(
            self._storage.recent_events, project_id, name, 0, LIVE_EVENTS
        )
        return self._page(
            "events.html",
            session=session,
            page="events",
            filter=name or "",
            events=events,
            last_id=events[0].id if events else 0,
        )

    async def events_feed(self, request: Request) -> Response:
        """Rows newer than ?after=, for the live page's polling; X-Last-Id says where it is."""
        if self._session(request) is None:
            return Response(status_code=401, headers=_HEADERS)
        raw_after = request.query_params.get("after", "0")
        after = int(raw_after) if raw_after.isascii() and raw_after.isdigit() else 0
        name = request.query_params.get("event", "").strip() or None
        project_id = await self._project_id()
        events = await run_in_threadpool(
            self._storage.recent_events, project_id, name, after, LIVE_EVENTS
        )
        response = self._page("event_rows.html", events=events)
        response.headers["X-Last-Id"] = str(events[0].id if events else after)
        return response

    async def chart(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return RedirectResponse("/", status_code=303)
        span = RANGES.get(request.query_params.get("range", "hour"), RANGES["hour"])
        since = datetime.now(timezone.utc) - timedelta(seconds=span.seconds)
        project_id = await self._project_id()
        counts = await run_in_threadpool(
            self._storage.event_counts, project_id, format_timestamp(since), span.bucket_seconds
        )
        return self._page(
            "chart.html",
            session=session,
            page="chart",
            span=span,
            ranges=RANGES,
            chart=build_chart(counts, span.buckets),
        )
