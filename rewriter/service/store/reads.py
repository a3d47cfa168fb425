"""The store's reads on ``redis.asyncio``, for the API's GET routes: awaited on the event loop, so that a read
costs no threadpool hop (two per request when a FastAPI route is a plain ``def``: the route, then its response's
validation), and many reads share one process without a thread each.

The same keys, records and errors as the sync ``Store`` (the modules of this package own the key layout and the
checks; this one only awaits the round trips). The client retries through a Redis restart for its ``patience``
(``AsyncPatientRetry``), then raises ``redis.ConnectionError``, which the API answers 503. Writes stay on the sync
``Store``: they are fewer, and their idempotence scripts live there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Self, TypeVar, cast

import redis
import redis.asyncio

from rewriter.errors import InvalidRequest, Unauthorized
from rewriter.jobs.kinds import lifecycle
from rewriter.service.store.base import async_redis_client, check_limit, page_of, page_start
from rewriter.service.store.codec import file_from_hash, job_from_hash, model_from_hash
from rewriter.service.store.events import events_page, stream_cursor
from rewriter.service.store.files import file_found
from rewriter.service.store.jobs import job_found
from rewriter.service.store.models import model_found
from rewriter.service.store.records import Event, FileRecord, JobRecord, ModelRecord, Order, Page
from rewriter.service.store.teams import key_hash
from rewriter.settings import RedisSettings

T = TypeVar("T")


class AsyncReads:
    """Reads of teams' keys, jobs, events, files and models. Share one per process and event loop; ``aclose`` it."""

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.redis = client

    @classmethod
    def from_url(cls, url: str, settings: RedisSettings | None = None, *, patience: float) -> Self:
        return cls(async_redis_client(url, settings or RedisSettings(), patience=patience))

    async def aclose(self) -> None:
        await self.redis.aclose()

    async def team_for_key(self, plaintext: str) -> str:
        team = await self.redis.hget(f"rw:apikey:{key_hash(plaintext)}", "team")
        if team is None:
            raise Unauthorized("Incorrect API key provided.", code="invalid_api_key")
        return str(team)

    async def get_job(self, job_id: str, *, team: str | None) -> JobRecord:
        return job_found(await self._hash(f"rw:job:{job_id}"), job_id, team)

    async def list_jobs(
        self, team: str, kind: str, *, after: str | None = None, limit: int = 20, order: Order = "desc"
    ) -> Page[JobRecord]:
        lifecycle(kind)
        return await self._page(f"rw:team:{team}:jobs:{kind}", after, limit, order, "rw:job:", job_from_hash)

    async def list_events(
        self, job_id: str, *, team: str | None, after: str | None = None, limit: int = 20
    ) -> Page[Event]:
        """Events oldest first, strictly after the cursor ``after`` (an event id); as ``Store.list_events``."""
        return (await self.job_and_events(job_id, team=team, after=after, limit=limit))[1]

    async def job_and_events(
        self, job_id: str, *, team: str | None, after: str | None = None, limit: int = 20
    ) -> tuple[JobRecord, Page[Event]]:
        """The job (NotFound unless it is ``team``'s) and a page of its events, read in one round trip."""
        try:
            check_limit(limit)
            start = "-" if after is None else stream_cursor(after)
        except InvalidRequest:
            await self.get_job(job_id, team=team)  # an unknown job is NotFound first, as in Store.list_events
            raise
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(f"rw:job:{job_id}")
        if start is not None:  # None: after the largest id there is nothing (and Redis refuses the range)
            pipe.xrange(f"rw:job:{job_id}:events", min=start, max="+", count=limit + 1)
        replies = await pipe.execute()
        job = job_found(replies[0], job_id, team)
        entries = cast(list[tuple[str, dict[str, str]]], replies[1] if start is not None else [])
        return job, events_page(entries, limit)

    async def get_file(self, file_id: str, *, team: str | None) -> FileRecord:
        return file_found(await self._hash(f"rw:file:{file_id}"), file_id, team)

    async def list_files(
        self,
        team: str,
        *,
        after: str | None = None,
        limit: int = 100,
        order: Order = "desc",
        purpose: str | None = None,
    ) -> Page[FileRecord]:
        index = f"rw:team:{team}:files" + (f":{purpose}" if purpose else "")
        return await self._page(index, after, limit, order, "rw:file:", file_from_hash)

    async def get_model(self, model_id: str, *, team: str | None) -> ModelRecord:
        return model_found(await self._hash(f"rw:model:{model_id}"), model_id, team)

    async def list_models(self, team: str) -> list[ModelRecord]:
        """The team's trained models, oldest first."""
        ids = cast(list[str], await self.redis.zrange(f"rw:team:{team}:models", 0, -1))
        hashes = await self._hashes("rw:model:", ids)
        return [model_from_hash(raw) for raw in hashes if len(raw) > 1]

    async def _hash(self, key: str) -> dict[str, str]:
        return cast(dict[str, str], await self.redis.hgetall(key))

    async def _hashes(self, prefix: str, ids: list[str]) -> list[dict[str, str]]:
        """The hashes ``prefix + id`` of ``ids``, in one round trip."""
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for item in ids:
            pipe.hgetall(prefix + item)
        return cast(list[dict[str, str]], await pipe.execute())

    async def _page(
        self, index: str, after: str | None, limit: int, order: Order, prefix: str, build: Callable[[Any], T]
    ) -> Page[T]:
        """As ``StoreBase._page``: one page of the hashes ``prefix + id`` listed in ``index``, after ``after``."""
        check_limit(limit)
        start = 0
        if after is not None:
            rank = await (
                self.redis.zrevrank(index, after) if order == "desc" else self.redis.zrank(index, after)
            )
            start = page_start(after, cast(int | None, rank))
        ids = cast(list[str], await self.redis.zrange(index, start, start + limit, desc=order == "desc"))
        return page_of(ids, await self._hashes(prefix, ids[:limit]), limit, build)
