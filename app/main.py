"""The HTTP API. ``create_app(settings)`` builds it; the module-level ``app`` is for uvicorn:

uvicorn app.main:app --host 0.0.0.0 --port 8000
"""

from __future__ import annotations

from fastapi import FastAPI

from app import errors
from app.metrics import Metrics, MetricsMiddleware
from app.queue import Enqueuer
from app.routes import eval_runs, files, fine_tuning, health, models, rewrite_jobs, rewrite_rows, ui
from rewriter import __version__
from rewriter.jobs import JobService
from rewriter.service.artifacts import Artifacts
from rewriter.service.models import Registry
from rewriter.service.store import Store
from rewriter.settings import Settings, get_settings


def create_app(settings: Settings) -> FastAPI:
    """An app bound to ``settings``: its own Redis client, storage and metrics registry."""
    store = Store.from_url(settings.redis_url)
    app = FastAPI(
        title="Rewriter",
        version=__version__,
        description="Rewrite fine-tuning data into the model's own distribution behind a correctness gate.",
    )
    app.state.settings = settings
    app.state.store = store
    app.state.artifacts = artifacts = Artifacts(settings.artifacts_url)
    app.state.models = registry = Registry(store, artifacts, settings.base_models)
    app.state.jobs = JobService(
        store,
        registry,
        Enqueuer(settings.redis_url),
        default_model=settings.default_model,
        engine=settings.engine,
        shard_rows=settings.worker.shard_rows,
    )
    app.state.metrics = Metrics(store)
    errors.install(app)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.include_router(health.router)
    for module in (files, rewrite_jobs, rewrite_rows, fine_tuning, eval_runs, models):
        app.include_router(module.router, responses=errors.RESPONSES)
    ui.install(app)
    return app


app = create_app(get_settings())
