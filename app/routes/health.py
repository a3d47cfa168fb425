"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from app.deps import StorageDep, StoreDep
from app.metrics import Metrics

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers: nothing else is checked."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(store: StoreDep, artifacts: StorageDep) -> dict[str, str]:
    """Redis answers a ping and storage takes a write; 503 with the error envelope otherwise."""
    store.ping()
    artifacts.check()
    return {"status": "ready"}


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    registry = request.app.state.metrics
    assert isinstance(registry, Metrics)
    body = await run_in_threadpool(generate_latest, registry.registry)  # the store collector reads Redis
    return Response(body, media_type=CONTENT_TYPE_LATEST)
