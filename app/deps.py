"""Dependencies, defined once as ``Annotated`` aliases: routes declare ``store: StoreDep, team: TeamDep``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from rewriter.errors import Unauthorized
from rewriter.service.artifacts import Artifacts
from rewriter.service.job_service import JobService
from rewriter.service.models import Registry
from rewriter.service.store import Store
from rewriter.settings import Settings


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _storage(request: Request) -> Artifacts:
    artifacts: Artifacts = request.app.state.artifacts
    return artifacts


def _jobs(request: Request) -> JobService:
    jobs: JobService = request.app.state.jobs
    return jobs


def _models(request: Request) -> Registry:
    models: Registry = request.app.state.models
    return models


SettingsDep = Annotated[Settings, Depends(_settings)]
StoreDep = Annotated[Store, Depends(_store)]
StorageDep = Annotated[Artifacts, Depends(_storage)]
JobsDep = Annotated[JobService, Depends(_jobs)]
ModelsDep = Annotated[Registry, Depends(_models)]


def _team(store: StoreDep, authorization: Annotated[str | None, Header()] = None) -> str:
    """The team of the API key in ``Authorization: Bearer <key>``."""
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
    return store.team_for_key(key.strip())


TeamDep = Annotated[str, Depends(_team)]
