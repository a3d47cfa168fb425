"""``/v1/rewrite_jobs``: create, list, get, cancel, events. A job's output, dropped rows and report become files
of the team (``output_file_id``, ``error_file_id``, ``report_file_id``) when it completes — or is cancelled, with
the rows rewritten so far."""

from __future__ import annotations

from typing import Any, Literal, Self

from fastapi import APIRouter
from pydantic import BaseModel

from app.deps import JobsDep, TeamDep
from app.job_routes import JobResource, add_job_routes
from app.listing import JobError, JobObject
from rewriter import results
from rewriter.jobs.rewrite import RewriteJobRequest, RewriteJobSpec
from rewriter.service.store import JobRecord

router = APIRouter(prefix="/v1/rewrite_jobs", tags=["rewrite_jobs"])


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

    @classmethod
    def from_record(cls, progress: results.RewriteProgress) -> Self:
        done, total = progress.shards_done, progress.shards_total
        percent = round(100.0 * done / total, 1) if total else 0.0
        return cls(shards_done=done, shards_total=total, percent=percent)


class RewriteJobObject(JobObject):
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

    @classmethod
    def from_record(cls, job: JobRecord) -> Self:
        spec = RewriteJobSpec.model_validate(job.spec)
        progress = results.RewriteProgress.model_validate(job.progress or {})
        result = results.RewriteResult.model_validate(job.result or {})
        counts = result.row_counts or progress.row_counts or results.RowCounts()
        return cls(
            id=job.id,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            status=job.status,
            input_file_id=spec.input_file_id,
            model=spec.model,
            adapter=spec.adapter,
            strategy=spec.strategy.strategy,
            spec=spec.strategy.model_dump(mode="json"),
            preview=spec.preview,
            row_counts=RowCounts.model_validate(counts.model_dump()),
            progress=RewriteProgress.from_record(progress),
            output_file_id=result.output_file_id,
            error_file_id=result.error_file_id,
            report_file_id=result.report_file_id,
            report_markdown_file_id=result.report_markdown_file_id,
            summary=result.summary.model_dump() if result.summary else None,
            usage=result.usage.model_dump() if result.usage else None,
            error=job.error,
            attempts=job.attempts,
            metadata=spec.metadata,
        )


@router.post("")
def create_rewrite_job(body: RewriteJobRequest, jobs: JobsDep, team: TeamDep) -> RewriteJobObject:
    """Validate the spec against the team's file and models, record the job, enqueue it."""
    return RewriteJobObject.from_record(jobs.create_rewrite_job(team, body))


add_job_routes(
    router,
    JobResource(
        kind="rewrite",
        model=RewriteJobObject,
        name="rewrite_job",
        event_object="rewrite_job.event",
        docs={
            "cancel": "A queued job is cancelled at once; a running one finishes its current shard and keeps its "
            "output.",
            "events": "Oldest first; pass the last event's id as ``after`` for the next page.",
        },
    ),
)
