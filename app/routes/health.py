"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from app.deps import ArtifactsDep, MetricsDep, StoreDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready"] = "ready"


@router.get("/healthz")
def healthz() -> Health:
    """The process answers: nothing else is checked."""
    return Health()


@router.get("/readyz")
def readyz(store: StoreDep, artifacts: ArtifactsDep) -> Readiness:
    """Redis answers a ping and storage takes a write; 503 with the error envelope otherwise."""
    store.ping()
    artifacts.check()
    return Readiness()


@router.get("/metrics", response_class=Response)
async def metrics(metrics: MetricsDep) -> Response:
    body = await run_in_threadpool(generate_latest, metrics.registry)  # the store collector reads Redis
    return Response(body, media_type=CONTENT_TYPE_LATEST)
