"""The HTTP API. ``create_app(settings)`` builds one; uvicorn calls it as a factory (there is no module-level app):

uvicorn --factory app.main:create_app --host 0.0.0.0 --port 8000

The app's lifespan opens its ``AppState`` (Redis client, artifacts, model registry, job service, metrics) on
startup and closes it on shutdown (app/state.py); a ``TestClient`` runs it when used as a context manager.
"""

from __future__ import annotations

from fastapi import FastAPI

from app import errors
from app.metrics import MetricsMiddleware
from app.routes import eval_runs, files, fine_tuning, health, models, rewrite_jobs, rewrite_rows, ui
from app.state import AppState, lifespan
from rewriter import __version__
from rewriter.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """An app bound to ``settings`` (the environment's, ``get_settings()``, when none are given)."""
    app = FastAPI(
        title="Rewriter",
        version=__version__,
        description="Rewrite fine-tuning data into the model's own distribution behind a correctness gate.",
        lifespan=lifespan(settings if settings is not None else get_settings()),
    )
    errors.install(app)
    app.add_middleware(MetricsMiddleware, metrics=lambda scope: AppState.of(scope).metrics)
    app.include_router(health.router)
    for module in (files, rewrite_jobs, rewrite_rows, fine_tuning, eval_runs, models):
        app.include_router(module.router, responses=errors.RESPONSES)
    ui.install(app)
    return app
