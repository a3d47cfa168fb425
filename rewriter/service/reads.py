"""What the API's GET routes read, awaited on the event loop: a team's API key, jobs of every kind and their
events, files, models. The same answers and errors as the sync ``JobService.get/list/events``, ``files.get_file/
list_files``, ``Registry.list/get`` and ``Store.team_for_key``, on ``AsyncReads`` (``redis.asyncio``).

Why a second read path: a sync read in the API costs a threadpool hop (a route that is a plain ``def`` costs two: the
route, then the validation of its answer), each a scheduler wake-up; at 200 GETs/s on a busy 2-core machine those
waits were the p99 (docs/operations.md, "Read latency"). Writes keep the sync path.
"""

from __future__ import annotations

from dataclasses import dataclass

from rewriter.errors import NotFound
from rewriter.service.job_service import event_cursor, of_kind
from rewriter.service.models import Model, Registry, trained
from rewriter.service.store import Event, FileRecord, JobRecord, Order, Page
from rewriter.service.store.reads import AsyncReads


@dataclass(frozen=True)
class Reads:
    store: AsyncReads
    registry: Registry  # for the base models, which are configuration, not records

    async def team_for_key(self, key: str) -> str:
        return await self.store.team_for_key(key)

    async def job(self, team: str, kind: str, job_id: str) -> JobRecord:
        return of_kind(await self.store.get_job(job_id, team=team), kind)

    async def jobs(
        self, team: str, kind: str, *, after: str | None = None, limit: int = 20, order: Order = "desc"
    ) -> Page[JobRecord]:
        return await self.store.list_jobs(team, kind, after=after, limit=limit, order=order)

    async def events(
        self, team: str, kind: str, job_id: str, *, after: str | None = None, limit: int = 20
    ) -> Page[Event]:
        """Events oldest first, after the cursor (an event id as shown, ``ftevent-1700000000000-0``)."""
        cursor = event_cursor(kind, after)
        job, page = await self.store.job_and_events(job_id, team=team, after=cursor, limit=limit)
        of_kind(job, kind)
        return page

    async def file(self, team: str, file_id: str) -> FileRecord:
        return await self.store.get_file(file_id, team=team)

    async def files(
        self,
        team: str,
        *,
        after: str | None = None,
        limit: int = 100,
        order: Order = "desc",
        purpose: str | None = None,
    ) -> Page[FileRecord]:
        return await self.store.list_files(team, after=after, limit=limit, order=order, purpose=purpose)

    async def models(self, team: str) -> list[Model]:
        """Base models first, then the team's trained models, oldest first."""
        bases = [self.registry.base(name) for name in self.registry.bases]
        return bases + [trained(record) for record in await self.store.list_models(team)]

    async def model(self, team: str, model: str) -> Model:
        """A base model or one of the team's; NotFound otherwise."""
        if model in self.registry.bases:
            return self.registry.base(model)
        try:
            return trained(await self.store.get_model(model, team=team))
        except NotFound:
            raise NotFound(
                f"The model '{model}' does not exist", param="model", code="model_not_found"
            ) from None
