"""``GET /v1/rewrite_jobs/{id}/rows``: a finished job's rows a page at a time, each with its expert target, for the
row browser — filtered by provenance and gate verdict, sorted by NLL before/after, streamed from the output file."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from app.deps import ArtifactsDep, StoreDep, TeamDep
from app.listing import APIObject, ListObject
from rewriter.service.rows import RowQuery, rewrite_job_rows

router = APIRouter(prefix="/v1/rewrite_jobs", tags=["rewrite_jobs"])


class RewriteJobRowObject(APIObject):
    id: str
    object: Literal["rewrite_job.row"] = "rewrite_job.row"
    index: int
    question: str
    expert: str | None
    target: str
    provenance: str | None
    gate: dict[str, Any] | None
    nll: dict[str, Any] | None
    attempts: int
    passed: int
    kept: bool


@router.get("/{job_id}/rows", response_model=ListObject[RewriteJobRowObject])
def list_rewrite_job_rows(
    job_id: str,
    store: StoreDep,
    artifacts: ArtifactsDep,
    team: TeamDep,
    source: Literal["output", "dropped"] = "output",
    provenance: str | None = None,
    verdict: Literal["pass", "fail", "unverifiable", "none"] | None = None,
    sort: Literal["file", "nll_before", "nll_after"] = "file",
    order: Literal["asc", "desc"] = "asc",
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """The output rows (or, with ``source=dropped``, the rows the gate dropped); pass the last row's id as
    ``after`` for the next page. 409 while the job has no output yet."""
    query = RowQuery(source, provenance, verdict, sort, order, after, limit)
    page = rewrite_job_rows(store, artifacts, team, job_id, query)
    data = [row.as_dict() for row in page.data]
    return {
        "object": "list",
        "data": data,
        "has_more": page.has_more,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }
