"""``/v1/eval_runs``: greedy accuracy of a model (plus an adapter) on task suites, the team's held-out files and
lm-evaluation-harness tasks; against a ``base`` model, the downstream gain and the forgetting of the retention
suites, files and tasks (DESIGN §2.4, docs/evaluation.md)."""

from __future__ import annotations

from typing import Any, Literal, Self

from fastapi import APIRouter

from app.deps import JobsDep, TeamDep
from app.job_routes import JobResource, add_job_routes
from app.listing import JobError, JobObject
from rewriter.jobs.eval_run import EvalFile, EvalRunRequest, EvalRunSpec, HarnessRequest
from rewriter.results import EvalResult, SuiteScore
from rewriter.service.store import JobRecord

router = APIRouter(prefix="/v1/eval_runs", tags=["eval_runs"])


class EvalRunObject(JobObject):
    object: Literal["eval_run"] = "eval_run"
    created_at: int
    finished_at: int | None
    status: Literal["validating_files", "queued", "running", "succeeded", "failed", "cancelled"]
    model: str
    adapter: str | None
    base: str | None
    suites: list[str]
    files: list[EvalFile] = []
    harness: HarnessRequest | None = None
    n: int
    seed: int
    results: dict[str, SuiteScore] | None
    base_results: dict[str, SuiteScore] | None
    comparison: dict[str, Any] | None = None
    error: JobError | None
    metadata: dict[str, str] | None

    @classmethod
    def from_record(cls, job: JobRecord) -> Self:
        spec = EvalRunSpec.model_validate(job.spec)
        result = EvalResult.model_validate(job.result or {}).model_dump()
        return cls(
            id=job.id,
            created_at=job.created_at,
            finished_at=job.finished_at,
            status=job.status,
            model=spec.model,
            adapter=spec.adapter,
            base=spec.base,
            suites=spec.suites,
            files=spec.files,
            harness=spec.harness,
            n=spec.n,
            seed=spec.seed,
            results=result["results"],
            base_results=result["base_results"],
            comparison=result["comparison"],
            error=job.error,
            metadata=spec.metadata,
        )


@router.post("")
def create_eval_run(body: EvalRunRequest, jobs: JobsDep, team: TeamDep) -> EvalRunObject:
    return EvalRunObject.from_record(jobs.create_eval_run(team, body))


add_job_routes(
    router,
    JobResource(
        kind="eval", model=EvalRunObject, name="eval_run", event_object="eval_run.event", id_param="run_id"
    ),
)
