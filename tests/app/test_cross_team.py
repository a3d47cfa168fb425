"""Every resource belongs to a team: another team's ids answer 404 (the same envelope as an id that never
existed), on every route, and its lists stay empty. Jobs here are only recorded and enqueued (no worker listens)."""

from __future__ import annotations

import pytest

from rewriter.backbones import TOY_DIR
from rewriter.service.artifacts import Artifacts
from rewriter.service.models import Registry
from rewriter.settings import Settings
from tests.conftest import Api, downstream_rows, jsonl_bytes

pytestmark = pytest.mark.integration


def test_another_teams_ids_answer_404_everywhere(settings: Settings) -> None:
    owner, other = Api(settings, "acme"), Api(settings, "globex")
    try:
        file = owner.upload(jsonl_bytes(downstream_rows(3)))
        rewrite = owner.create("/v1/rewrite_jobs", {"input_file_id": file["id"], "verifier": "toy-number"})
        tune = owner.create("/v1/fine_tuning/jobs", {"model": "toy", "training_file": file["id"]})
        evaluation = owner.create("/v1/eval_runs", {"model": "toy", "suites": ["add"], "n": 5})
        registry = Registry(owner.store, Artifacts(settings.artifacts_url))
        toy = registry.get(owner.team, "toy")
        model = registry.register(
            owner.team,
            tune["id"],
            TOY_DIR,
            kind="model",
            parent=toy,
            training_file=file["id"],
            method="supervised",
        )
        routes = [
            ("GET", f"/v1/files/{file['id']}"),
            ("GET", f"/v1/files/{file['id']}/content"),
            ("DELETE", f"/v1/files/{file['id']}"),
            ("GET", f"/v1/rewrite_jobs/{rewrite['id']}"),
            ("POST", f"/v1/rewrite_jobs/{rewrite['id']}/cancel"),
            ("GET", f"/v1/rewrite_jobs/{rewrite['id']}/events"),
            ("GET", f"/v1/fine_tuning/jobs/{tune['id']}"),
            ("POST", f"/v1/fine_tuning/jobs/{tune['id']}/cancel"),
            ("GET", f"/v1/fine_tuning/jobs/{tune['id']}/events"),
            ("GET", f"/v1/fine_tuning/jobs/{tune['id']}/checkpoints"),
            ("GET", f"/v1/eval_runs/{evaluation['id']}"),
            ("POST", f"/v1/eval_runs/{evaluation['id']}/cancel"),
            ("GET", f"/v1/eval_runs/{evaluation['id']}/events"),
            ("GET", f"/v1/models/{model.id}"),
            # an id of another kind under the wrong resource is no better
            ("GET", f"/v1/rewrite_jobs/{tune['id']}"),
            ("GET", f"/v1/fine_tuning/jobs/{evaluation['id']}"),
        ]
        for method, path in routes:
            response = other.client.request(method, path)
            assert response.status_code == 404, (method, path, response.text)
            assert set(response.json()["error"]) == {"message", "type", "param", "code"}
            if "/v1/rewrite_jobs/ftjob" not in path and "/v1/fine_tuning/jobs/eval" not in path:
                assert owner.client.request("GET", path.removesuffix("/cancel")).status_code == 200, path
        for method, path in routes[:14]:  # ids that never existed answer the same way
            fake = path.replace(file["id"], "file-x").replace(rewrite["id"], "rwjob-x")
            fake = (
                fake.replace(tune["id"], "ftjob-x")
                .replace(evaluation["id"], "eval-x")
                .replace(model.id, "ft:x")
            )
            assert other.client.request(method, fake).status_code == 404, fake
        for path in ("/v1/files", "/v1/rewrite_jobs", "/v1/fine_tuning/jobs", "/v1/eval_runs"):
            assert other.get(path)["data"] == [] and len(owner.get(path)["data"]) == 1, path
        assert [m["id"] for m in other.get("/v1/models")["data"]] == ["toy"]
        assert [m["id"] for m in owner.get("/v1/models")["data"]] == ["toy", model.id]
        assert owner.get(f"/v1/rewrite_jobs/{rewrite['id']}")["status"] == "queued", "nothing was cancelled"
        # Using another team's file or model in a job is a 404 too.
        borrowed = other.client.post(
            "/v1/fine_tuning/jobs", json={"model": model.id, "training_file": file["id"]}
        )
        assert borrowed.status_code == 404 and borrowed.json()["error"]["param"] == "training_file"
        theirs = other.upload(jsonl_bytes(downstream_rows(2)))
        borrowed = other.client.post(
            "/v1/fine_tuning/jobs", json={"model": model.id, "training_file": theirs["id"]}
        )
        assert borrowed.status_code == 404 and borrowed.json()["error"]["param"] == "model"
        warm = {"type": "grpo", "grpo": {"warm_start_file": file["id"]}}  # the owner's file as a warm start
        borrowed = other.client.post(
            "/v1/fine_tuning/jobs", json={"model": "toy", "training_file": theirs["id"], "method": warm}
        )
        assert borrowed.status_code == 404
        assert borrowed.json()["error"]["param"] == "method.grpo.warm_start_file"
    finally:
        owner.close()
        other.close()
