"""The routes every job resource shares, built once: ``add_job_routes(router, JobResource(...))`` adds

    GET  {prefix}                 list, newest first (``order`` where the resource takes it)
    GET  {prefix}/{id}            get
    POST {prefix}/{id}/cancel     cancel
    GET  {prefix}/{id}/events     events, oldest first

for one job kind and its API object. The create route and anything else a resource has stay in its own module.
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations, and they name this
# function's locals (the resource's id parameter and API object), which only evaluated annotations can see.

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from app.deps import JobsDep, ReadsDep, TeamDep
from app.listing import EventObject, JobObject, ListObject
from rewriter.jobs.kinds import EVENT_PREFIX


@dataclass(frozen=True)
class JobResource:
    kind: str  # the job kind in the store: rewrite | fine_tune | eval
    model: type[JobObject]  # its API object
    name: str  # singular, for the route names: list_{name}s, get_{name}, cancel_{name}, list_{name}_events
    event_object: str  # the ``object`` of its events: rewrite_job.event
    id_param: str = "job_id"  # the path parameter's name
    ordered: bool = True  # the list takes ``order`` (asc|desc)
    docs: Mapping[str, str] = field(default_factory=dict)  # descriptions by route: list, get, cancel, events


def add_job_routes(router: APIRouter, resource: JobResource) -> None:
    kind, model = resource.kind, resource.model
    job_id_type = Annotated[str, Path(alias=resource.id_param)]
    # an event id as shown (``rwevent-1700000000000-0``) or bare (the stream id): two unsigned 64-bit integers
    event_cursor = rf"^({EVENT_PREFIX[kind].value}-)?\d{{1,20}}-\d{{1,20}}$"
    job_list: Any = ListObject[model]  # type: ignore[valid-type]  # parametrized at run time, for the schema

    # The reads are ``async def`` on the async store: no threadpool hop (docs/operations.md, "Read latency").
    async def list_ordered(
        reads: ReadsDep,
        team: TeamDep,
        after: str | None = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        order: Literal["asc", "desc"] = "desc",
    ) -> Any:
        page = await reads.jobs(team, kind, after=after, limit=limit, order=order)
        return job_list.from_page(page, model.from_record)

    async def list_newest_first(
        reads: ReadsDep,
        team: TeamDep,
        after: str | None = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> Any:
        return job_list.from_page(await reads.jobs(team, kind, after=after, limit=limit), model.from_record)

    async def get_job(job_id: job_id_type, reads: ReadsDep, team: TeamDep) -> JobObject:
        return model.from_record(await reads.job(team, kind, job_id))

    def cancel_job(job_id: job_id_type, jobs: JobsDep, team: TeamDep) -> JobObject:
        return model.from_record(jobs.cancel(team, kind, job_id))

    async def list_events(
        job_id: job_id_type,
        reads: ReadsDep,
        team: TeamDep,
        after: Annotated[str | None, Query(pattern=event_cursor, description="An event's id.")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    ) -> ListObject[EventObject]:
        page = await reads.events(team, kind, job_id, after=after, limit=limit)
        return ListObject[EventObject].from_page(
            page, lambda event: EventObject.from_record(event, kind=kind, object=resource.event_object)
        )

    list_jobs = list_ordered if resource.ordered else list_newest_first
    one = "/{" + resource.id_param + "}"
    name, docs = resource.name, resource.docs
    routes = (
        ("", "GET", list_jobs, job_list, f"list_{name}s", "list"),
        (one, "GET", get_job, model, f"get_{name}", "get"),
        (f"{one}/cancel", "POST", cancel_job, model, f"cancel_{name}", "cancel"),
        (f"{one}/events", "GET", list_events, ListObject[EventObject], f"list_{name}_events", "events"),
    )
    for path, method, endpoint, response_model, route_name, key in routes:
        router.add_api_route(
            path,
            endpoint,
            methods=[method],
            response_model=response_model,
            name=route_name,
            description=docs.get(key),
        )
