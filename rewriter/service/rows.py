"""A rewrite job's rows, a page at a time: read by streaming its output (or dropped-rows) file from the artifacts.

Each page is one pass over the file: rows are filtered by provenance and gate verdict, and either taken in file
order (the pass stops once the page is full) or selected by NLL with a heap of ``limit + 1`` entries, so memory
holds one page whatever the file's size. A second streamed pass over the job's input file finds the expert
target of each row on the page (rows are joined by id, which uploads keep unique). The cursor ``after`` is the id
of the last row of the previous page; under an NLL sort, finding its key costs one more pass, stopping at it.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from rewriter import formats
from rewriter.errors import Conflict, InvalidRequest, NotFound
from rewriter.records import Row
from rewriter.service.artifacts import Artifacts
from rewriter.service.store import JobRecord, Page, Store

Source = Literal["output", "dropped"]
Sort = Literal["file", "nll_before", "nll_after"]
Order = Literal["asc", "desc"]
VERDICTS = ("pass", "fail", "unverifiable", "none")  # "none": no gate ran (the identity strategy)
# The NLL a sort reads from a row's meta: the QA-conditioned mean per-token NLL under the base (report's "qa").
SORT_SIDE = {"nll_before": "original", "nll_after": "chosen"}


@dataclass(frozen=True)
class RowQuery:
    source: Source = "output"
    provenance: str | None = None
    verdict: str | None = None
    sort: Sort = "file"
    order: Order = "asc"
    after: str | None = None
    limit: int = 20

    def __post_init__(self) -> None:
        if self.verdict is not None and self.verdict not in VERDICTS:
            raise InvalidRequest(
                f"verdict: expected one of {', '.join(VERDICTS)}, got {self.verdict!r}.", param="verdict"
            )
        if not 1 <= self.limit <= 100:
            raise InvalidRequest("limit: expected 1 to 100.", param="limit")


@dataclass(frozen=True)
class JobRow:
    """One row of a job's output next to its expert target; ``index`` is its 0-based position in the file."""

    id: str
    index: int
    question: str
    expert: str | None  # the input file's target (None if the input file is gone)
    target: str  # the target the job wrote
    provenance: str | None
    gate: dict[str, Any] | None
    nll: dict[str, Any] | None
    attempts: int
    passed: int
    kept: bool

    def as_dict(self) -> dict[str, Any]:
        return {"object": "rewrite_job.row", **self.__dict__}


def rewrite_job_rows(
    store: Store, artifacts: Artifacts, team: str, job_id: str, query: RowQuery
) -> Page[JobRow]:
    """A page of the team's rewrite job's rows; NotFound for another team's job, Conflict before any output."""
    job = store.get_job(job_id, team=team)
    if job.kind != "rewrite":
        raise NotFound(f"No such job: {job_id}", param="job_id")
    result = job.result or {}
    if not result.get("output_file_id"):
        raise Conflict(
            f"Job {job_id} has no output yet (status {job.status}): rows can be read once it has finished.",
            code="job_not_finished",
        )
    file_id = result["output_file_id"] if query.source == "output" else result.get("error_file_id")
    if file_id is None:  # nothing was dropped
        return Page([], has_more=False)
    path = store.get_file(file_id, team=team).path
    picked = _select(artifacts, path, query)
    page = picked[: query.limit]
    experts = _expert_targets(store, artifacts, job, {row.id for _, row in page})
    rows = [_job_row(index, record, experts, query.source == "output") for index, record in page]
    return Page(rows, has_more=len(picked) > query.limit)


def _records(artifacts: Artifacts, path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    with artifacts.open_read(path) as handle:
        index = 0
        for line in handle:
            if line.strip():
                yield index, json.loads(line)
                index += 1


@dataclass(frozen=True)
class _Parsed:
    id: str
    question: str
    target: str
    meta: dict[str, Any]


def _parse(record: dict[str, Any], line: int) -> _Parsed:
    fields = {k: v for k, v in record.items() if k != "meta"}
    row = formats.parse_record(fields, line, formats.detect_schema(fields))
    return _Parsed(row.id, row.question, row.answer, record.get("meta") or {})


def _matches(meta: dict[str, Any], query: RowQuery) -> bool:
    if query.provenance is not None and meta.get("provenance") != query.provenance:
        return False
    if query.verdict is not None:
        status = (meta.get("gate") or {}).get("status") or "none"
        return bool(status == query.verdict)
    return True


def _key(index: int, meta: dict[str, Any], query: RowQuery) -> tuple[float, int]:
    """Sort key: (NLL, position), NLL negated for ``desc``; rows without an NLL go last either way. In file
    order, the position alone (negated for ``desc``)."""
    if query.sort == "file":
        return (0.0, index if query.order == "asc" else -index)
    nll = ((meta.get("nll") or {}).get(SORT_SIDE[query.sort]) or {}).get("qa")
    if nll is None:
        return (float("inf"), index)
    return (-float(nll) if query.order == "desc" else float(nll), index)


def _select(artifacts: Artifacts, path: str, query: RowQuery) -> list[tuple[int, _Parsed]]:
    """Up to ``limit + 1`` matching rows after the cursor, in the query's order."""
    cursor: tuple[float, int] | None = None
    if query.after is not None:
        for index, record in _records(artifacts, path):
            parsed = _parse(record, index + 1)
            if parsed.id == query.after:
                cursor = _key(index, parsed.meta, query)
                break
        else:
            raise InvalidRequest(f"after: no such row: {query.after}", param="after")

    def candidates() -> Iterator[tuple[tuple[float, int], int, _Parsed]]:
        for index, record in _records(artifacts, path):
            meta = record.get("meta") or {}
            if not _matches(meta, query):
                continue
            key = _key(index, meta, query)
            if cursor is None or key > cursor:
                yield key, index, _parse(record, index + 1)

    wanted = query.limit + 1
    if query.sort == "file" and query.order == "asc":
        picked = []
        for _, index, parsed in candidates():
            picked.append((index, parsed))
            if len(picked) == wanted:
                break
        return picked
    best = heapq.nsmallest(wanted, candidates(), key=lambda item: item[0])
    return [(index, parsed) for _, index, parsed in best]


def _expert_targets(store: Store, artifacts: Artifacts, job: JobRecord, ids: set[str]) -> dict[str, Row]:
    """The input rows with these ids, by one streamed pass over the job's input file (stops once all are found)."""
    found: dict[str, Row] = {}
    if not ids:
        return found
    try:
        path = store.get_file(str(job.spec["input_file_id"]), team=job.team).path
    except NotFound:  # the team deleted its input file: the page shows the rewrites alone
        return found
    with artifacts.open_read(path) as handle:
        for row in formats.iter_validate(handle):
            if row.id in ids:
                found[row.id] = row
                if len(found) == len(ids):
                    break
    return found


def _job_row(index: int, parsed: _Parsed, experts: dict[str, Row], kept: bool) -> JobRow:
    meta = parsed.meta
    expert = experts.get(parsed.id)
    return JobRow(
        id=parsed.id,
        index=index,
        question=parsed.question,
        expert=expert.answer if expert is not None else None,
        target=parsed.target,
        provenance=meta.get("provenance"),
        gate=meta.get("gate"),
        nll=meta.get("nll"),
        attempts=int(meta.get("attempts", 0)),
        passed=int(meta.get("passed", 0)),
        kept=kept,
    )
