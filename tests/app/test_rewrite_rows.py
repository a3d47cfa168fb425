"""``GET /v1/rewrite_jobs/{id}/rows`` over HTTP: the list shape, the filters and cursor as query parameters, a bad
value refused in the error envelope, another team's job 404 and an unfinished one 409."""

from __future__ import annotations

from typing import Any

import pytest

from rewriter.service.artifacts import Artifacts
from rewriter.settings import Settings
from tests.conftest import Api
from tests.rewriter.service.test_rows import rewrite_job

pytestmark = pytest.mark.integration


def test_rows_endpoint(settings: Settings) -> None:
    api, other = Api(settings, "acme"), Api(settings, "other")
    try:
        job_id, output = rewrite_job(api.store, Artifacts(settings.artifacts_url), api.team)
        path = f"/v1/rewrite_jobs/{job_id}/rows"
        page = api.get(f"{path}?provenance=expert_fallback&limit=2")
        assert (
            page["object"] == "list" and page["has_more"] and [r["id"] for r in page["data"]] == ["r1", "r3"]
        )
        row: dict[str, Any] = page["data"][0]
        assert (
            row["object"] == "rewrite_job.row"
            and row["expert"] == "1+1=2 #2"
            and row["target"] == "rewrite of r1"
        )
        assert (
            row["gate"]["status"] == "fail"
            and row["nll"] == output[1]["meta"]["nll"]
            and page["last_id"] == "r3"
        )
        rest = api.get(f"{path}?provenance=expert_fallback&limit=2&after=r3")
        assert [r["id"] for r in rest["data"]] == ["r7", "r9"] and not rest["has_more"]
        top = api.get(f"{path}?sort=nll_before&order=desc&limit=1")["data"][0]
        assert top["nll"]["original"]["qa"] == max(o["meta"]["nll"]["original"]["qa"] for o in output)

        bad = api.client.get(f"{path}?verdict=maybe")
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "verdict", bad.text
        assert other.client.get(path).status_code == 404
        running = api.store.create_job(api.team, "rewrite", {"input_file_id": "file-x"})
        unfinished = api.client.get(f"/v1/rewrite_jobs/{running.id}/rows")
        assert unfinished.status_code == 409 and unfinished.json()["error"]["code"] == "job_not_finished"
    finally:
        api.close()
        other.close()
