"""``/v1/fine_tuning/jobs``: OpenAI's fine-tuning API — create, list, get, cancel, events, checkpoints.

``method.type`` is ``supervised`` (our extras ``loss`` nll|dft|is and ``lora`` inside ``method.supervised``, and
``steps`` / ``learning_rate`` inside its hyperparameters) or ``grpo`` (ours: ``method.grpo``). The official SDK
sends all of these unchanged.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from fastapi import APIRouter, Query

from app.deps import JobsDep, TeamDep
from app.job_routes import JobResource, add_job_routes
from app.listing import APIObject, JobError, JobObject, ListObject
from rewriter.jobs.fine_tune import FineTuneJobSpec, FineTuningJobRequest
from rewriter.results import FineTuneProgress, FineTuneResult
from rewriter.service.store import JobRecord

router = APIRouter(prefix="/v1/fine_tuning/jobs", tags=["fine_tuning"])


class FineTuningJobObject(JobObject):
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

    @classmethod
    def from_record(cls, job: JobRecord) -> Self:
        spec = FineTuneJobSpec.model_validate(job.spec)
        result = FineTuneResult.model_validate(job.result or {})
        return cls(
            id=job.id,
            created_at=job.created_at,
            error=job.error,
            fine_tuned_model=result.fine_tuned_model if job.status == "succeeded" else None,
            finished_at=job.finished_at,
            hyperparameters=spec.hyperparameters,
            model=spec.model,
            organization_id=job.team,
            result_files=result.result_files,
            seed=spec.seed,
            status=job.status,
            trained_tokens=result.trained_tokens,
            training_file=spec.training_file,
            validation_file=spec.validation_file,
            metadata=spec.metadata,
            method=spec.method_body,
            suffix=spec.suffix,
            progress=FineTuneProgress.model_validate(job.progress).stored() if job.progress else None,
        )


class CheckpointObject(APIObject):
    object: Literal["fine_tuning.job.checkpoint"] = "fine_tuning.job.checkpoint"
    created_at: int
    fine_tuned_model_checkpoint: str
    fine_tuning_job_id: str
    metrics: dict[str, float]
    step_number: int

    @classmethod
    def from_record(cls, checkpoint: dict[str, Any]) -> Self:
        """A checkpoint as the job's result lists it (its keys are the object's)."""
        return cls.model_validate(checkpoint)


@router.post("")
def create_fine_tuning_job(body: FineTuningJobRequest, jobs: JobsDep, team: TeamDep) -> FineTuningJobObject:
    """Check the training file and model, resolve the hyperparameters, record the job, enqueue it."""
    return FineTuningJobObject.from_record(jobs.create_fine_tuning_job(team, body))


add_job_routes(
    router,
    JobResource(
        kind="fine_tune",
        model=FineTuningJobObject,
        name="fine_tuning_job",
        event_object="fine_tuning.job.event",
        ordered=False,  # OpenAI's list takes no `order`
        docs={
            "events": "Oldest first; per-step metrics are events of type ``metrics`` with the values in ``data``."
        },
    ),
)


@router.get("/{job_id}/checkpoints")
def list_fine_tuning_checkpoints(
    job_id: str,
    jobs: JobsDep,
    team: TeamDep,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> ListObject[CheckpointObject]:
    """Newest first. A job that succeeded has its final checkpoint: the fine-tuned model itself."""
    page = jobs.checkpoints(team, job_id, after=after, limit=limit)
    return ListObject[CheckpointObject].from_page(page, CheckpointObject.from_record)
