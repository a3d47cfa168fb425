"""A rewrite job's rows a page at a time, read from real files in the artifacts and a real Redis store: filters,
NLL sorts, cursors, the expert join from the input file, and the team boundary."""

from __future__ import annotations

from typing import Any

import pytest

from rewriter import formats
from rewriter.errors import Conflict, InvalidRequest, NotFound
from rewriter.service import files
from rewriter.service.artifacts import Artifacts
from rewriter.service.rows import RowQuery, rewrite_job_rows
from rewriter.service.store import Store
from tests.factories import jsonl, qa_record

pytestmark = pytest.mark.integration

PROVENANCE = ["self", "expert_fallback", "guided", "expert_fallback", "self", "original"]
GATE = ["pass", "fail", "pass", "unverifiable", "pass", None]


def meta(i: int) -> dict[str, Any]:
    gate = {"status": GATE[i % 6], "predicted": None, "gold": str(i + 1), "reason": ""}
    return {
        "provenance": PROVENANCE[i % 6],
        "attempts": 2,
        "passed": 1 if GATE[i % 6] == "pass" else 0,
        "gate": gate,
        # before: a permutation of 0..n-1 (distinct); after: ties on purpose (broken by position)
        "nll": {"original": {"qa": float((7 * i) % 13)}, "chosen": {"qa": float(i % 3)}},
    }


def rewrite_job(
    store: Store, artifacts: Artifacts, team: str, n: int = 13
) -> tuple[str, list[dict[str, Any]]]:
    """A completed rewrite job of ``team``: an uploaded input of ``n`` QA rows and an output with one record per
    row (the expert answer replaced by a rewrite), both real files in the artifacts."""
    inputs = [qa_record(i, id=f"r{i}") for i in range(n)]
    upload = files.store_upload(
        store, artifacts, team, "in.jsonl", "rewrite", [jsonl(inputs)], max_bytes=1 << 20
    )
    job = store.create_job(team, "rewrite", {"input_file_id": upload.id})
    rows = [formats.parse_record(r, i + 1, "qa") for i, r in enumerate(inputs)]
    output = [formats.output_record(row, f"rewrite of {row.id}", meta(i)) for i, row in enumerate(rows)]
    path = f"outputs/{team}/{job.id}/output.jsonl"
    with artifacts.open_write(path) as handle:
        handle.write(jsonl(output))
    out = files.record_file(
        store, artifacts, team, path, filename="out.jsonl", purpose="rewrite-output", schema="qa", rows=n
    )
    store.set_result(job.id, {"output_file_id": out.id, "error_file_id": None})
    return job.id, output


def every_page(store: Store, artifacts: Artifacts, team: str, job_id: str, **query: Any) -> list[Any]:
    rows, after = [], None
    while True:
        page = rewrite_job_rows(store, artifacts, team, job_id, RowQuery(after=after, limit=4, **query))
        rows += page.data
        if not page.has_more:
            return rows
        assert len(page.data) == 4
        after = page.data[-1].id


def test_pages_in_file_order_carry_the_expert_target(store: Store, artifacts: Artifacts) -> None:
    team = store.ensure_team("acme")
    job_id, output = rewrite_job(store, artifacts, team)
    first = rewrite_job_rows(store, artifacts, team, job_id, RowQuery(limit=5))
    assert [r.id for r in first.data] == ["r0", "r1", "r2", "r3", "r4"] and first.has_more
    row = first.data[1]
    assert (row.index, row.question, row.expert, row.target) == (1, "1+1", "1+1=2 #2", "rewrite of r1")
    assert row.provenance == "expert_fallback" and row.gate == output[1]["meta"]["gate"] and row.kept
    rows = every_page(store, artifacts, team, job_id)
    assert [r.id for r in rows] == [o["id"] for o in output]
    newest_first = every_page(store, artifacts, team, job_id, order="desc")
    assert [r.id for r in newest_first] == [o["id"] for o in reversed(output)]


def test_filters_by_provenance_and_gate_verdict(store: Store, artifacts: Artifacts) -> None:
    team = store.ensure_team("acme")
    job_id, output = rewrite_job(store, artifacts, team)
    fallback = every_page(store, artifacts, team, job_id, provenance="expert_fallback")
    assert [r.id for r in fallback] == [
        o["id"] for o in output if o["meta"]["provenance"] == "expert_fallback"
    ]
    failed = every_page(store, artifacts, team, job_id, provenance="expert_fallback", verdict="fail")
    assert [r.id for r in failed] == ["r1", "r7"]
    ungated = every_page(store, artifacts, team, job_id, verdict="none")
    assert [r.provenance for r in ungated] == ["original", "original"]
    assert every_page(store, artifacts, team, job_id, provenance="rewritten") == []
    with pytest.raises(InvalidRequest, match="verdict"):
        RowQuery(verdict="maybe")


@pytest.mark.parametrize("sort,side", [("nll_before", "original"), ("nll_after", "chosen")])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_sorts_by_nll_across_pages(
    store: Store, artifacts: Artifacts, sort: str, side: str, order: str
) -> None:
    team = store.ensure_team("acme")
    job_id, output = rewrite_job(store, artifacts, team)
    rows = every_page(store, artifacts, team, job_id, sort=sort, order=order)
    sign = -1 if order == "desc" else 1
    expected = sorted(range(len(output)), key=lambda i: (sign * output[i]["meta"]["nll"][side]["qa"], i))
    assert [r.index for r in rows] == expected


def test_another_teams_job_is_not_found_and_an_unfinished_one_conflicts(
    store: Store, artifacts: Artifacts
) -> None:
    acme, other = store.ensure_team("acme"), store.ensure_team("other")
    job_id, _ = rewrite_job(store, artifacts, acme)
    with pytest.raises(NotFound):
        rewrite_job_rows(store, artifacts, other, job_id, RowQuery())
    running = store.create_job(acme, "rewrite", {"input_file_id": "file-x"})
    with pytest.raises(Conflict, match="no output yet"):
        rewrite_job_rows(store, artifacts, acme, running.id, RowQuery())
    dropped = rewrite_job_rows(store, artifacts, acme, job_id, RowQuery(source="dropped"))
    assert dropped.data == [] and not dropped.has_more
    with pytest.raises(InvalidRequest, match="no such row"):
        rewrite_job_rows(store, artifacts, acme, job_id, RowQuery(after="nope"))
