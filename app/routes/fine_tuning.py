"""``/v1/fine_tuning/jobs``: OpenAI's fine-tuning API — create, list, get, cancel, events, checkpoints.

``method.type`` is ``supervised`` (our extras ``loss`` nll|dft|is and ``lora`` inside ``method.supervised``, and
``steps`` / ``learning_rate`` inside its hyperparameters) or ``grpo`` (ours: ``method.grpo``). The official SDK
sends all of these unchanged.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from app.deps import JobsDep, TeamDep
from app.listing import EventObject, JobError, ListObject, event_object, list_object
from rewriter.jobs.fine_tune import FineTuneJobSpec, FineTuningJobRequest
from rewriter.results import FineTuneProgress, FineTuneResult
from rewriter.service.store import JobRecord

router = APIRouter(prefix="/v1/fine_tuning/jobs", tags=["fine_tuning"])
KIND = "fine_tune"


class FineTuningJobObject(BaseModel):
    id: str
    object: Literal["fine_tuning.job"] = "fine_tuning.job"
    created_at: int
    error: JobError | None
    fine_tuned_model: str | None
    finished_at: int | None
    hyperparameters: dict[str, Any]
    model: str
    organization_id: str
    result_files: list[str]
    seed: int
    status: Literal["validating_files", "queued", "running", "succeeded", "failed", "cancelled"]
    trained_tokens: int | None
    training_file: str
    validation_file: str | None = None
    estimated_finish: int | None = None
    integrations: list[dict[str, Any]] = []
    metadata: dict[str, str] | None
    method: dict[str, Any]
    suffix: str | None
    progress: dict[str, Any] | None


class CheckpointObject(BaseModel):
    id: str
    object: Literal["fine_tuning.job.checkpoint"] = "fine_tuning.job.checkpoint"
    created_at: int
    fine_tuned_model_checkpoint: str
    fine_tuning_job_id: str
    metrics: dict[str, float]
    step_number: int


def fine_tuning_job_object(job: JobRecord) -> dict[str, Any]:
    spec = FineTuneJobSpec.model_validate(job.spec)
    result = FineTuneResult.model_validate(job.result or {})
    return {
        "id": job.id,
        "object": "fine_tuning.job",
        "created_at": job.created_at,
        "error": job.error,
        "fine_tuned_model": result.fine_tuned_model if job.status == "succeeded" else None,
        "finished_at": job.finished_at,
        "hyperparameters": spec.hyperparameters,
        "model": spec.model,
        "organization_id": job.team,
        "result_files": result.result_files,
        "seed": spec.seed,
        "status": job.status,
        "trained_tokens": result.trained_tokens,
        "training_file": spec.training_file,
        "validation_file": None,
        "estimated_finish": None,
        "integrations": [],
        "metadata": spec.metadata,
        "method": spec.method_body,
        "suffix": spec.suffix,
        "progress": FineTuneProgress.model_validate(job.progress).model_dump() if job.progress else None,
    }


@router.post("", response_model=FineTuningJobObject)
def create_fine_tuning_job(body: FineTuningJobRequest, jobs: JobsDep, team: TeamDep) -> dict[str, Any]:
    """Check the training file and model, resolve the hyperparameters, record the job, enqueue it."""
    return fine_tuning_job_object(jobs.create_fine_tuning_job(team, body))


@router.get("", response_model=ListObject[FineTuningJobObject])
def list_fine_tuning_jobs(
    jobs: JobsDep,
    team: TeamDep,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    return list_object(jobs.list(team, KIND, after=after, limit=limit), fine_tuning_job_object)


@router.get("/{job_id}", response_model=FineTuningJobObject)
def get_fine_tuning_job(job_id: str, jobs: JobsDep, team: TeamDep) -> dict[str, Any]:
    return fine_tuning_job_object(jobs.get(team, KIND, job_id))


@router.post("/{job_id}/cancel", response_model=FineTuningJobObject)
def cancel_fine_tuning_job(job_id: str, jobs: JobsDep, team: TeamDep) -> dict[str, Any]:
    return fine_tuning_job_object(jobs.cancel(team, KIND, job_id))


@router.get("/{job_id}/events", response_model=ListObject[EventObject])
def list_fine_tuning_events(
    job_id: str,
    jobs: JobsDep,
    team: TeamDep,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> dict[str, Any]:
    """Oldest first; per-step metrics are events of type ``metrics`` with the values in ``data``."""
    page = jobs.events(team, KIND, job_id, after=after, limit=limit)
    return list_object(page, event_object(KIND, "fine_tuning.job.event"))


@router.get("/{job_id}/checkpoints", response_model=ListObject[CheckpointObject])
def list_fine_tuning_checkpoints(
    job_id: str,
    jobs: JobsDep,
    team: TeamDep,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    """Newest first. A job that succeeded has its final checkpoint: the fine-tuned model itself."""
    return list_object(jobs.checkpoints(team, job_id, after=after, limit=limit), dict)
