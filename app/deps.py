"""Dependencies, defined once as ``Annotated`` aliases: routes declare ``store: StoreDep, team: TeamDep``.

Each is a part of the app's ``AppState`` (app/state.py), which the lifespan put in the request's scope. They are
``async def``: FastAPI runs a plain ``def`` dependency in the threadpool, and a hop to a thread and back costs more
than these lookups (on a loaded machine, a scheduler wait each). Only the key lookup may touch Redis, and then with
the async reads (``ReadsDep``), so that no sync Redis call runs on the event loop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from app.metrics import Metrics
from app.state import AppState
from rewriter.errors import Unauthorized
from rewriter.service.artifacts import Artifacts
from rewriter.service.job_service import JobService
from rewriter.service.models import Registry
from rewriter.service.reads import Reads
from rewriter.service.store import Store
from rewriter.settings import Settings


async def _state(request: Request) -> AppState:
    return AppState.of(request.scope)


StateDep = Annotated[AppState, Depends(_state)]


async def _settings(state: StateDep) -> Settings:
    return state.settings


async def _store(state: StateDep) -> Store:
    return state.store


async def _artifacts(state: StateDep) -> Artifacts:
    return state.artifacts


async def _jobs(state: StateDep) -> JobService:
    return state.jobs


async def _registry(state: StateDep) -> Registry:
    return state.registry


async def _metrics(state: StateDep) -> Metrics:
    return state.metrics


async def _reads(state: StateDep) -> Reads:
    return state.reads


SettingsDep = Annotated[Settings, Depends(_settings)]
StoreDep = Annotated[Store, Depends(_store)]
ArtifactsDep = Annotated[Artifacts, Depends(_artifacts)]
JobsDep = Annotated[JobService, Depends(_jobs)]
RegistryDep = Annotated[Registry, Depends(_registry)]
MetricsDep = Annotated[Metrics, Depends(_metrics)]
ReadsDep = Annotated[Reads, Depends(_reads)]


async def _team(state: StateDep, authorization: Annotated[str | None, Header()] = None) -> str:
    """The team of the API key in ``Authorization: Bearer <key>`` (from the app's key cache, else from Redis)."""
    if not authorization:
        raise Unauthorized(
            "You didn't provide an API key. You need to provide your API key in an Authorization header "
            "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            code="missing_api_key",
        )
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized(
            "Malformed Authorization header: expected 'Bearer YOUR_KEY'.", code="invalid_api_key"
        )
    key = key.strip()
    team = state.keys.get(key)
    if team is None:
        team = await state.reads.team_for_key(key)
        state.keys.put(key, team)
    return team


TeamDep = Annotated[str, Depends(_team)]
