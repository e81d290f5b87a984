"""The FastAPI recipe (docs/recipes/fastapi.md): the client lives in the lifespan, routes
capture with a plain call, the lifespan's exit awaits shutdown, and the oakdata ASGI
middleware opens a context per request."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Header, Request
from starlette.authentication import AuthCredentials, AuthenticationBackend, SimpleUser
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection

from oakdata import AsyncOakClient, context
from oakdata.integrations.asgi import OakDataMiddleware


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # The tests hold events until shutdown (no timer, a large flush_at) to prove that the
    # lifespan's exit delivers everything; an app keeps the defaults (RECIPE_HOLD=0).
    hold = os.environ.get("RECIPE_HOLD", "1") == "1"
    oak = AsyncOakClient(**({"flush_interval": 0, "flush_at": 1000} if hold else {}))
    app.state.oak = oak
    yield
    delivered = await oak.shutdown(timeout=5)
    print(f"oakdata shutdown delivered={delivered}", flush=True)


class HeaderAuth(AuthenticationBackend):
    """Stands in for the app's authentication: an X-Test-User header signs the request in."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, SimpleUser] | None:
        user = conn.headers.get("X-Test-User")
        return (AuthCredentials(["authenticated"]), SimpleUser(user)) if user else None


app = FastAPI(lifespan=lifespan)
# Added last, runs first: the authentication sets scope["user"], which the oakdata
# middleware's default distinct_id reads.
app.add_middleware(OakDataMiddleware)
app.add_middleware(AuthenticationMiddleware, backend=HeaderAuth())


@app.post("/signup/{user_id}")
async def signup(user_id: str, request: Request) -> dict[str, object]:
    oak: AsyncOakClient = request.app.state.oak
    uuid = oak.capture(user_id, "signed_up", {"plan": "free"})
    return {"uuid": uuid, "pid": os.getpid()}


@app.post("/invite/{user_id}")
def invite(user_id: str, request: Request) -> dict[str, object]:
    # A plain `def` route: FastAPI runs it in its thread pool, off the loop.
    oak: AsyncOakClient = request.app.state.oak
    uuid = oak.capture(user_id, "invite_sent")
    return {"uuid": uuid, "pid": os.getpid()}


@app.post("/upgrade")
async def upgrade(request: Request) -> dict[str, object]:
    # No id: the request's context gives the signed-in user's, and the request's URL.
    oak: AsyncOakClient = request.app.state.oak
    return {"uuid": oak.capture(event="plan_upgraded", properties={"plan": "pro"})}


@app.post("/upgrade-sync")
def upgrade_sync(request: Request) -> dict[str, object]:
    # The thread pool runs the route in a copy of the request's context.
    oak: AsyncOakClient = request.app.state.oak
    return {"uuid": oak.capture(event="plan_upgraded", properties={"plan": "pro"})}


async def api_user(x_api_user: str = Header()) -> AsyncIterator[str]:
    # Authentication in a dependency runs after every middleware: the user is known only
    # here, so the dependency opens a nested context (an async one: FastAPI runs a plain
    # `def` dependency in a thread, whose context changes do not reach the route).
    with context(distinct_id=x_api_user):
        yield x_api_user


@app.post("/upgrade-by-dependency")
async def upgrade_by_dependency(
    request: Request, user: str = Depends(api_user)
) -> dict[str, object]:
    oak: AsyncOakClient = request.app.state.oak
    return {"uuid": oak.capture(event="plan_upgraded", properties={"plan": "pro"})}
