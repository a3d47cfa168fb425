"""``/v1/rewrite_jobs``: create, list, get, cancel, events. A job's output, dropped rows and report become files
of the team (``output_file_id``, ``error_file_id``, ``report_file_id``) when it completes — or is cancelled, with
the rows rewritten so far."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from app.deps import JobsDep, TeamDep
from app.listing import EventObject, JobError, ListObject, event_object, list_object
from rewriter import results
from rewriter.jobs.rewrite import RewriteJobRequest, RewriteJobSpec
from rewriter.service.store import JobRecord

router = APIRouter(prefix="/v1/rewrite_jobs", tags=["rewrite_jobs"])
KIND = "rewrite"


class RowCounts(BaseModel):
    total: int | None
    completed: int
    kept: int
    dropped: int
    by_provenance: dict[str, int]


class RewriteProgress(BaseModel):
    shards_done: int
    shards_total: int | None
    percent: float


class RewriteJobObject(BaseModel):
    id: str
    object: Literal["rewrite_job"] = "rewrite_job"
    created_at: int
    started_at: int | None
    finished_at: int | None
    status: Literal[
        "validating", "queued", "in_progress", "finalizing", "completed", "failed", "cancelling", "cancelled"
    ]
    input_file_id: str
    model: str
    adapter: str | None
    strategy: str
    spec: dict[str, Any]
    preview: int | None
    row_counts: RowCounts
    progress: RewriteProgress
    output_file_id: str | None
    error_file_id: str | None
    report_file_id: str | None
    report_markdown_file_id: str | None
    summary: dict[str, Any] | None
    usage: dict[str, Any] | None = None
    error: JobError | None
    attempts: int
    metadata: dict[str, str] | None


def rewrite_job_object(job: JobRecord) -> dict[str, Any]:
    spec = RewriteJobSpec.model_validate(job.spec)
    progress = results.RewriteProgress.model_validate(job.progress or {})
    result = results.RewriteResult.model_validate(job.result or {})
    counts = result.row_counts or progress.row_counts or results.RowCounts()
    shards_total = progress.shards_total
    shards_done = progress.shards_done
    return {
        "id": job.id,
        "object": "rewrite_job",
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "status": job.status,
        "input_file_id": spec.input_file_id,
        "model": spec.model,
        "adapter": spec.adapter,
        "strategy": spec.strategy.strategy,
        "spec": spec.strategy.model_dump(mode="json"),
        "preview": spec.preview,
        "row_counts": counts.model_dump(),
        "progress": {
            "shards_done": shards_done,
            "shards_total": shards_total,
            "percent": round(100.0 * shards_done / shards_total, 1) if shards_total else 0.0,
        },
        "output_file_id": result.output_file_id,
        "error_file_id": result.error_file_id,
        "report_file_id": result.report_file_id,
        "report_markdown_file_id": result.report_markdown_file_id,
        "summary": result.summary.model_dump() if result.summary else None,
        "usage": result.usage.model_dump() if result.usage else None,
        "error": job.error,
        "attempts": job.attempts,
        "metadata": spec.metadata,
    }


@router.post("", response_model=RewriteJobObject)
def create_rewrite_job(body: RewriteJobRequest, jobs: JobsDep, team: TeamDep) -> dict[str, Any]:
    """Validate the spec against the team's file and models, record the job, enqueue it."""
    return rewrite_job_object(jobs.create_rewrite_job(team, body))


@router.get("", response_model=ListObject[RewriteJobObject])
def list_rewrite_jobs(
    jobs: JobsDep,
    team: TeamDep,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Literal["asc", "desc"] = "desc",
) -> dict[str, Any]:
    return list_object(jobs.list(team, KIND, after=after, limit=limit, order=order), rewrite_job_object)


@router.get("/{job_id}", response_model=RewriteJobObject)
def get_rewrite_job(job_id: str, jobs: JobsDep, team: TeamDep) -> dict[str, Any]:
    return rewrite_job_object(jobs.get(team, KIND, job_id))


@router.post("/{job_id}/cancel", response_model=RewriteJobObject)
def cancel_rewrite_job(job_id: str, jobs: JobsDep, team: TeamDep) -> dict[str, Any]:
    """A queued job is cancelled at once; a running one finishes its current shard and keeps its output."""
    return rewrite_job_object(jobs.cancel(team, KIND, job_id))


@router.get("/{job_id}/events", response_model=ListObject[EventObject])
def list_rewrite_job_events(
    job_id: str,
    jobs: JobsDep,
    team: TeamDep,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> dict[str, Any]:
    """Oldest first; pass the last event's id as ``after`` for the next page."""
    page = jobs.events(team, KIND, job_id, after=after, limit=limit)
    return list_object(page, event_object(KIND, "rewrite_job.event"))
