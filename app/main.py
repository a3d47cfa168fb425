"""The HTTP API. ``create_app(settings)`` builds it; the module-level ``app`` is for uvicorn:

uvicorn app.main:app --host 0.0.0.0 --port 8000
"""

from __future__ import annotations

from fastapi import FastAPI

from app import errors
from app.metrics import Metrics, MetricsMiddleware
from app.routes import files, health
from rewriter import __version__
from rewriter.settings import Settings, get_settings
from rewriter.storage import Storage
from rewriter.store import Store


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
    app.state.storage = Storage(settings.artifacts_url)
    app.state.metrics = Metrics(store)
    errors.install(app)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.include_router(health.router)
    app.include_router(files.router)
    return app


app = create_app(get_settings())
