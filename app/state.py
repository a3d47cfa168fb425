"""What the API process holds while it runs: one ``AppState``, opened by the app's lifespan and closed with it.

The lifespan yields it as lifespan state, which the server copies into every request's scope; routes never read
it directly: ``app/deps.py`` hands out its parts as ``Annotated`` dependencies.
"""

from __future__ import annotations

import hashlib
import time
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
from rewriter.service.reads import Reads
from rewriter.service.store import Store
from rewriter.service.store.reads import AsyncReads
from rewriter.settings import Settings

_KEY = "app_state"


class KeyCache:
    """API key -> team, remembered for ``ttl`` seconds so that most requests skip a Redis round trip for auth.

    Only keys Redis knew are remembered (a key created a moment ago works at once); a key deleted from Redis keeps
    working for at most ``ttl`` seconds in each API process. Holds at most ``size`` keys, by their sha256.

    >>> now = [0.0]
    >>> cache = KeyCache(ttl=5.0, clock=lambda: now[0])
    >>> cache.put("sk-a", "team_1")
    >>> cache.get("sk-a"), cache.get("sk-b")
    ('team_1', None)
    >>> now[0] = 5.0
    >>> cache.get("sk-a") is None
    True
    """

    def __init__(self, ttl: float, size: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.size = size
        self.clock = clock
        self._teams: dict[str, tuple[str, float]] = {}  # sha256 of the key -> (team, expires at)

    def get(self, key: str) -> str | None:
        """The team of ``key`` if it was looked up less than ``ttl`` seconds ago."""
        digest = _digest(key)
        entry = self._teams.get(digest)
        if entry is None:
            return None
        if self.clock() >= entry[1]:
            self._teams.pop(digest, None)
            return None
        return entry[0]

    def put(self, key: str, team: str) -> None:
        if self.ttl <= 0:
            return
        now = self.clock()
        if len(self._teams) >= self.size:
            self._teams = {k: v for k, v in self._teams.items() if v[1] > now}
            while len(self._teams) >= self.size:
                del self._teams[next(iter(self._teams))]  # the oldest entry
        self._teams[_digest(key)] = (team, now + self.ttl)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class AppState:
    settings: Settings
    store: Store
    artifacts: Artifacts
    registry: Registry
    jobs: JobService
    enqueuer: Enqueuer
    metrics: Metrics
    keys: KeyCache
    reads: Reads  # the GET routes' reads, on the event loop (the rest uses the sync store, in the threadpool)

    @classmethod
    def open(cls, settings: Settings) -> AppState:
        """Clients for ``settings``: nothing is contacted yet (``/readyz`` reports an unreachable Redis). Open it
        in the event loop that serves the requests: the reads' connections belong to it."""
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
            harness_tasks_dir=settings.harness_tasks_dir,
            max_train_processes=settings.worker.max_train_processes,
        )
        keys = KeyCache(ttl=settings.api.key_cache_seconds)
        patience = settings.redis.api_patience_seconds
        reads = Reads(AsyncReads.from_url(settings.redis_url, settings.redis, patience=patience), registry)
        return cls(settings, store, artifacts, registry, jobs, enqueuer, Metrics(store), keys, reads)

    async def close(self) -> None:
        """Release the Redis connections (the store's pool, the reads' pool and the Celery producer's)."""
        self.enqueuer.close()
        self.store.redis.close()
        await self.reads.store.aclose()

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
            await state.close()

    return run
