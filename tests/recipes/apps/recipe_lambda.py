"""The AWS Lambda recipe (docs/recipes/aws-lambda.md): one client per container, made at
import, reused by warm invocations; every invocation flushes before it returns."""

from __future__ import annotations

import asyncio
from typing import Any

from oakdata import AsyncOakClient, OakClient
from oakdata.serverless import flush_on_return

# Made once per container, at cold start. No timer and a large flush_at: in these tests
# nothing leaves on its own, so what arrives before the handler returns was flushed by it.
oak = OakClient(flush_interval=0, flush_at=1000)
async_oak = AsyncOakClient(flush_interval=0, flush_at=1000)


@flush_on_return(oak)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    uuids = [
        oak.capture(
            event["user_id"],
            "report_generated",
            {"request_id": context.aws_request_id, "function": context.function_name, "n": n},
        )
        for n in range(event.get("count", 1))
    ]
    return {"statusCode": 200, "uuids": uuids}


@flush_on_return(async_oak)
async def async_main(event: dict[str, Any], context: Any) -> dict[str, Any]:
    await asyncio.sleep(0)  # stands for the handler's own awaited work
    uuids = [
        async_oak.capture(event["user_id"], "report_generated", {"n": n})
        for n in range(event.get("count", 1))
    ]
    return {"statusCode": 200, "uuids": uuids}


def async_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # The Python runtime calls handlers synchronously: run the coroutine on a loop of its
    # own per invocation. The flush happens inside async_main, before the loop ends.
    return asyncio.run(async_main(event, context))
