"""The FastAPI recipe (docs/recipes/fastapi.md): the client lives in the lifespan, routes
capture with a plain call, and the lifespan's exit awaits shutdown."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request

from oakdata import AsyncOakClient


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


app = FastAPI(lifespan=lifespan)


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
