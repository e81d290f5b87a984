"""Concurrent ingest requests stored together: one transaction, one commit, one insert.

An engine pays much of its price per transaction, not per event: a commit's flush to disk,
a round trip, and for ClickHouse a new part on disk for every insert, which costs about as
much CPU as 5,000 rows in it (bench/engines.py measures it). So requests of one project that
arrive while a store is running wait for it to end and are then stored in one call of
`Storage.ingest_many`: one request alone is stored at once, and under load the groups grow
by themselves, as large as the time one store takes lets them. Each request still gets the
answer it would have had alone; a 2xx is sent only after its group's commit.

If a group of several fails for any reason but an unavailable database, each request is
stored again on its own, so one request that the engine cannot take fails alone.

Runs on the server's event loop (one per process), so it needs no lock: the loop is the
only thread that touches the queue; the store itself runs in Starlette's thread pool.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence

from starlette.concurrency import run_in_threadpool

from oakdata_server.storage import IngestRequest, IngestResult, StorageUnavailable

# Messages in one group at most: past some thousands of rows a larger insert saves little,
# and a group's bodies stay in memory until it is stored.
MAX_GROUP_MESSAGES = 20_000

StoreMany = Callable[[int, Sequence[IngestRequest]], list[IngestResult]]


class GroupCommit:
    def __init__(self, store_many: StoreMany, max_messages: int = MAX_GROUP_MESSAGES) -> None:
        self._store_many = store_many
        self._max_messages = max_messages
        self._waiting: dict[int, deque[tuple[IngestRequest, asyncio.Future[IngestResult]]]] = {}

    async def ingest(self, project_id: int, request: IngestRequest) -> IngestResult:
        """The request's result, once it is committed with whatever waited beside it."""
        future: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        waiting = self._waiting.get(project_id)
        if waiting is None:
            # No store running for this project: this request starts one, and stores
            # every group that gathers while it runs.
            waiting = self._waiting[project_id] = deque([(request, future)])
            asyncio.get_running_loop().create_task(self._drain(project_id, waiting))
        else:
            waiting.append((request, future))
        # A client that goes away cancels only its own wait: the request is stored with its
        # group all the same (a retry of it is then a duplicate), and the others are not
        # touched.
        return await future

    async def _drain(
        self,
        project_id: int,
        waiting: deque[tuple[IngestRequest, asyncio.Future[IngestResult]]],
    ) -> None:
        try:
            while waiting:
                group = [waiting.popleft()]
                size = len(group[0][0].messages)
                while waiting and size + len(waiting[0][0].messages) <= self._max_messages:
                    size += len(waiting[0][0].messages)
                    group.append(waiting.popleft())
                await self._store(project_id, group)
        finally:
            del self._waiting[project_id]
            for _, future in waiting:  # only if this task was cancelled (the loop stopping)
                future.cancel()

    async def _store(
        self, project_id: int, group: list[tuple[IngestRequest, asyncio.Future[IngestResult]]]
    ) -> None:
        requests = [request for request, _ in group]
        try:
            results = await run_in_threadpool(self._store_many, project_id, requests)
        except Exception as error:
            if len(group) == 1 or isinstance(error, StorageUnavailable):
                for _, future in group:
                    _settle(future, error=error)
                return
            for entry in group:  # find the one the engine refuses; store the others
                await self._store(project_id, [entry])
            return
        for (_, future), result in zip(group, results, strict=True):
            _settle(future, result=result)


def _settle(
    future: asyncio.Future[IngestResult],
    result: IngestResult | None = None,
    error: BaseException | None = None,
) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    elif result is not None:
        future.set_result(result)
