"""``/v1/eval_runs``: greedy accuracy of a model (plus an adapter) on task suites; against a ``base`` model, the
downstream gain and the forgetting of the retention suites (DESIGN §2.4)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from app.deps import JobsDep, TeamDep
from app.listing import EventObject, JobError, ListObject, event_object, list_object
from rewriter.jobs.eval_run import EvalRunRequest, EvalRunSpec
from rewriter.results import EvalResult
from rewriter.service.store import JobRecord

router = APIRouter(prefix="/v1/eval_runs", tags=["eval_runs"])
KIND = "eval"


class SuiteScore(BaseModel):
    accuracy: float
    n: int
    samples: list[dict[str, str]] = []


class EvalRunObject(BaseModel):
    id: str
    object: Literal["eval_run"] = "eval_run"
    created_at: int
    finished_at: int | None
    status: Literal["validating_files", "queued", "running", "succeeded", "failed", "cancelled"]
    model: str
    adapter: str | None
    base: str | None
    suites: list[str]
    n: int
    seed: int
    results: dict[str, SuiteScore] | None
    base_results: dict[str, SuiteScore] | None
    comparison: dict[str, Any] | None = None
    error: JobError | None
    metadata: dict[str, str] | None


def eval_run_object(job: JobRecord) -> dict[str, Any]:
    spec = EvalRunSpec.model_validate(job.spec)
    result = EvalResult.model_validate(job.result or {}).model_dump()
    return {
        "id": job.id,
        "object": "eval_run",
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "status": job.status,
        "model": spec.model,
        "adapter": spec.adapter,
        "base": spec.base,
        "suites": spec.suites,
        "n": spec.n,
        "seed": spec.seed,
        "results": result["results"],
        "base_results": result["base_results"],
        "comparison": result["comparison"],
        "error": job.error,
        "metadata": spec.metadata,
    }


@router.post("", response_model=EvalRunObject)
def create_eval_run(body: EvalRunRequest, jobs: JobsDep, team: TeamDep) -> dict[str, Any]:
    return eval_run_object(jobs.create_eval_run(team, body))


@router.get("", response_model=ListObject[EvalRunObject])
def list_eval_runs(
    jobs: JobsDep,
    team: TeamDep,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Literal["asc", "desc"] = "desc",
) -> dict[str, Any]:
    return list_object(jobs.list(team, KIND, after=after, limit=limit, order=order), eval_run_object)


@router.get("/{run_id}", response_model=EvalRunObject)
def get_eval_run(run_id: str, jobs: JobsDep, team: TeamDep) -> dict[str, Any]:
    return eval_run_object(jobs.get(team, KIND, run_id))


@router.post("/{run_id}/cancel", response_model=EvalRunObject)
def cancel_eval_run(run_id: str, jobs: JobsDep, team: TeamDep) -> dict[str, Any]:
    return eval_run_object(jobs.cancel(team, KIND, run_id))


@router.get("/{run_id}/events", response_model=ListObject[EventObject])
def list_eval_run_events(
    run_id: str,
    jobs: JobsDep,
    team: TeamDep,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> dict[str, Any]:
    page = jobs.events(team, KIND, run_id, after=after, limit=limit)
    return list_object(page, event_object(KIND, "eval_run.event"))
