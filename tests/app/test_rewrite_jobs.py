"""/v1/rewrite_jobs end to end: the API records and enqueues, a real Celery worker runs the child, the output
comes back as files — the same rows an in-process ``pipeline.run`` writes; specs that cannot run are refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rewriter import pipeline
from rewriter.engines import load_engine
from rewriter.specs import StrategySpec
from tests.conftest import Api, downstream_rows, jsonl_bytes

pytestmark = pytest.mark.integration


def lines(content: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in content.splitlines() if line.strip()]


def test_rewrite_job_output_equals_the_in_process_pipeline(
    service: Callable[..., Api], tmp_path: Path
) -> None:
    api = service(shard_rows=3)
    rows = downstream_rows(6)
    data = jsonl_bytes(rows)
    file = api.upload(data)
    body = {
        "input_file_id": file["id"],
        "strategy": "guided_resolve",
        "verifier": "toy-number",
        "sampling": {"k": 2, "max_new_tokens": 48},
        "settings": {"fallback": "drop"},
        "seed": 7,
    }
    created = api.create("/v1/rewrite_jobs", body)
    assert created["id"].startswith("rwjob-") and created["object"] == "rewrite_job"
    assert created["status"] == "queued" and created["model"] == "toy" and created["spec"]["k"] == 2
    # Meanwhile, the same spec, seed and sharding in this process.
    local = tmp_path / "input.jsonl"
    local.write_bytes(data)
    spec = StrategySpec(
        strategy="guided_resolve", verifier="toy-number", k=2, max_new_tokens=48, fallback="drop", seed=7
    )
    expected = pipeline.run(
        local, tmp_path / "out.jsonl", spec, load_engine("toy"), model="toy", shard_rows=3
    )

    path = f"/v1/rewrite_jobs/{created['id']}"
    done = api.wait(path, {"completed", "failed", "cancelled"}, 90)
    assert done["status"] == "completed", done["error"]
    counts = done["row_counts"]
    assert counts["total"] == counts["completed"] == 6 and counts["kept"] + counts["dropped"] == 6
    assert sum(counts["by_provenance"].values()) == 6
    assert done["progress"] == {"shards_done": 2, "shards_total": 2, "percent": 100.0}
    assert isinstance(done["finished_at"], int) and done["finished_at"] >= done["created_at"]

    output = api.client.get(f"/v1/files/{done['output_file_id']}/content")
    assert output.status_code == 200
    assert lines(output.content) == lines((tmp_path / "out.jsonl").read_bytes())
    assert (
        counts["kept"] == expected.report["rows_kept"]
        and counts["by_provenance"] == expected.report["provenance"]
    )
    if counts["dropped"]:
        dropped = api.client.get(f"/v1/files/{done['error_file_id']}/content").content
        assert lines(dropped) == lines(expected.dropped.read_bytes())
    else:
        assert done["error_file_id"] is None
    report = json.loads(api.client.get(f"/v1/files/{done['report_file_id']}/content").content)
    timing = {"throughput"}
    assert {k: v for k, v in report.items() if k not in timing} == {
        k: v for k, v in expected.report.items() if k not in timing
    }
    markdown = api.client.get(f"/v1/files/{done['report_markdown_file_id']}/content").text
    assert markdown.startswith("# Rewrite report — guided_resolve on toy")

    outputs = api.get("/v1/files?purpose=rewrite-output")["data"]
    assert [f["id"] for f in outputs] == [done["output_file_id"]] and outputs[0]["rows"] == counts["kept"]
    messages = [e["message"] for e in api.events(path)]
    assert messages[0].startswith("Rewriting 6 rows") and "Shard 2/2 done: 6/6 rows." in messages
    assert api.get("/v1/rewrite_jobs")["data"][0]["id"] == created["id"]


def test_preview_rewrites_only_the_first_rows(service: Callable[..., Api]) -> None:
    api = service(shard_rows=8)
    file = api.upload(jsonl_bytes(downstream_rows(12)))
    body = {"input_file_id": file["id"], "strategy": "identity", "verifier": "toy-number", "preview": 3}
    job = api.create("/v1/rewrite_jobs", body)
    done = api.wait(f"/v1/rewrite_jobs/{job['id']}", {"completed", "failed", "cancelled"}, 60)
    assert done["status"] == "completed", done["error"]
    assert done["row_counts"]["total"] == 3 and done["row_counts"]["by_provenance"] == {"original": 3}
    output = lines(api.client.get(f"/v1/files/{done['output_file_id']}/content").content)
    assert [r["id"] for r in output] == ["d0", "d1", "d2"]
    assert [r["answer"] for r in output] == [r["answer"] for r in downstream_rows(3)]


def test_cancel_mid_job_keeps_the_partial_output(service: Callable[..., Api]) -> None:
    api = service(shard_rows=2)
    rows = downstream_rows(40)
    file = api.upload(jsonl_bytes(rows))
    body = {
        "input_file_id": file["id"],
        "strategy": "guided_resolve",
        "verifier": "toy-number",
        "sampling": {"k": 1, "max_new_tokens": 48},
    }
    job = api.create("/v1/rewrite_jobs", body)
    path = f"/v1/rewrite_jobs/{job['id']}"
    api.wait(path, set(), 60, until=lambda j: j["progress"]["shards_done"] >= 2)
    cancelling = api.create(f"{path}/cancel", {})
    assert cancelling["status"] in {"cancelling", "cancelled"}
    done = api.wait(path, {"cancelled", "completed", "failed"}, 60)
    assert done["status"] == "cancelled"
    kept = done["row_counts"]["kept"]
    assert 4 <= kept < 40 and done["row_counts"]["completed"] == kept
    output = lines(api.client.get(f"/v1/files/{done['output_file_id']}/content").content)
    assert [r["id"] for r in output] == [r["id"] for r in rows[:kept]], "the first shards, in order"
    assert any(e["message"].startswith("Cancelled: keeping") for e in api.events(path))
    again = api.client.post(f"{path}/cancel")
    assert again.status_code == 200 and again.json()["status"] == "cancelled"


@pytest.mark.parametrize(
    ("change", "status", "param"),
    [
        ({"sampling": {"temperature": -1}}, 400, "sampling.temperature"),
        ({"sampling": {"k": 0}}, 400, "sampling.k"),
        ({"settings": {"fallback": "maybe"}}, 400, "settings.fallback"),
        ({"settings": {"k": 3}}, 400, "settings.k"),
        ({"settings": {"guided_template": "no placeholders"}}, 400, "strategy"),
        ({"sampling": {"temperature": 0}}, 400, "strategy"),
        ({"verifier": "astrology"}, 400, "verifier"),
        ({"verifier": "regex", "verifier_options": {"pattern": "no group"}}, 400, "verifier"),
        ({"strategy": "magic"}, 400, "strategy"),
        ({"preview": 0}, 400, "preview"),
        ({"surprise": True}, 400, "surprise"),
        ({"input_file_id": "file-nope"}, 404, "input_file_id"),
        ({"model": "gpt-9"}, 404, "model"),
        ({"adapter": "ft:toy:acme:nope"}, 404, "adapter"),
    ],
)
def test_a_spec_that_cannot_run_is_refused_naming_the_field(
    service: Callable[..., Api], change: dict[str, Any], status: int, param: str
) -> None:
    api = service()
    file = api.upload(jsonl_bytes(downstream_rows(2)))
    body = {"input_file_id": file["id"], "strategy": "guided_resolve", "verifier": "toy-number", **change}
    if "adapter" in change:
        body["strategy"] = "policy"
    response = api.client.post("/v1/rewrite_jobs", json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["param"] == param and error["message"]
    assert api.get("/v1/rewrite_jobs")["data"] == [], "nothing is recorded"


def test_files_of_another_team_and_non_datasets_are_refused(service: Callable[..., Api]) -> None:
    mine, theirs = service(team="acme"), service(team="globex")
    their_file = theirs.upload(jsonl_bytes(downstream_rows(2)))
    response = mine.client.post(
        "/v1/rewrite_jobs", json={"input_file_id": their_file["id"], "verifier": "toy-number"}
    )
    assert response.status_code == 404 and response.json()["error"]["param"] == "input_file_id"
    assert their_file["id"] in response.json()["error"]["message"]
