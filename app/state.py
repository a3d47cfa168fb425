"""What the API process holds while it runs: one ``AppState``, opened by the app's lifespan and closed with it.

The lifespan yields it as lifespan state, which the server copies into every request's scope; routes never read
it directly: ``app/deps.py`` hands out its parts as ``Annotated`` dependencies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from starlette.types import Scope

from app.metrics import Metrics
from app.queue import Enqueuer
from rewriter.service.artifacts import Artifacts
from rewriter.service.job_service import JobService
from rewriter.service.models import Registry
from rewriter.service.store import Store
from rewriter.settings import Settings

_KEY = "app_state"


@dataclass(frozen=True)
class AppState:
    settings: Settings
    store: Store
    artifacts: Artifacts
    registry: Registry
    jobs: JobService
    enqueuer: Enqueuer
    metrics: Metrics

    @classmethod
    def open(cls, settings: Settings) -> AppState:
        """Clients for ``settings``: nothing is contacted yet (``/readyz`` reports an unreachable Redis)."""
        store = Store.from_url(
            settings.redis_url, settings.redis, patience=settings.redis.api_patience_seconds
        )
        artifacts = Artifacts(settings.artifacts_url)
        registry = Registry(store, artifacts, settings.base_models)
        enqueuer = Enqueuer(settings.redis_url, settings.redis)
        jobs = JobService(
            store,
            registry,
            enqueuer,
            default_model=settings.default_model,
            engine=settings.engine,
            shard_rows=settings.worker.shard_rows,
        )
        return cls(settings, store, artifacts, registry, jobs, enqueuer, Metrics(store))

    def close(self) -> None:
        """Release the Redis connections (the store's pool and the Celery producer's)."""
        self.enqueuer.close()
        self.store.redis.close()

    @staticmethod
    def of(scope: Scope) -> AppState:
        """The state of the app serving the request of ``scope``."""
        state = scope.get("state", {}).get(_KEY)
        if not isinstance(state, AppState):
            raise RuntimeError(
                "No AppState in the request scope: the app's lifespan did not run "
                "(serve it with uvicorn, or enter `with TestClient(app)`)."
            )
        return state


def lifespan(settings: Settings) -> Callable[[FastAPI], AbstractAsyncContextManager[dict[str, AppState]]]:
    """The lifespan of an app bound to ``settings``: opens its ``AppState`` on startup, closes it on shutdown."""

    @asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[dict[str, AppState]]:
        state = AppState.open(settings)
        try:
            yield {_KEY: state}
        finally:
            state.close()

    return run
