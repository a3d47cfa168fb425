"""The committed openapi.yaml is the app's document: regenerate it with ``make openapi`` after changing a route."""

from __future__ import annotations

import yaml

from app.openapi import document, to_yaml
from tests.conftest import REPO


def test_committed_openapi_yaml_is_current() -> None:
    committed = (REPO / "openapi.yaml").read_text()
    assert committed == to_yaml(document()), "openapi.yaml is stale: run `make openapi` and commit it"


def test_the_document_covers_every_resource() -> None:
    spec = yaml.safe_load((REPO / "openapi.yaml").read_text())
    for path in (
        "/v1/files",
        "/v1/files/{file_id}/content",
        "/v1/rewrite_jobs/{job_id}/events",
        "/v1/fine_tuning/jobs/{job_id}/checkpoints",
        "/v1/eval_runs/{run_id}",
        "/v1/models/{model_id}",
    ):
        assert path in spec["paths"], path
    create = spec["paths"]["/v1/rewrite_jobs"]["post"]
    assert create["responses"]["404"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ErrorEnvelope"
    )
