"""Refuse at creation: a job that could not run (or would silently change its result) is a 400 naming the field,
before anything is recorded; an unsupported method is a 405 that says which methods the path takes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from rewriter.settings import Settings
from tests.conftest import Api, jsonl_bytes
from tests.factories import qa_record

pytestmark = pytest.mark.integration

NAN, INF = float("nan"), float("inf")


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    api = Api(settings, "validate")
    yield api
    api.close()


def post(api: Api, path: str, payload: dict[str, Any]) -> Any:
    content = json.dumps(payload, allow_nan=True)
    return api.client.post(path, content=content, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"verifier": "numeric", "verifier_options": {"tolerance": NAN}}, "verifier_options.tolerance"),
        ({"verifier": "numeric", "verifier_options": {"tolerance": -0.5}}, "verifier"),
        ({"verifier": "numeric", "verifier_options": {"tolerance": INF}}, "verifier_options.tolerance"),
        ({"verifier": "math", "verifier_options": {"timeout": NAN}}, "verifier_options.timeout"),
        ({"verifier": "math", "verifier_options": {"timeout": 0}}, "verifier"),
        ({"seed": 2**70}, "seed"),
        ({"seed": -1}, "seed"),
        ({"sampling": {"temperature": NAN}}, "sampling.temperature"),
        ({"sampling": {"temperature": INF}}, "sampling.temperature"),
        ({"sampling": {"top_p": 0}}, "sampling.top_p"),
        ({"sampling": {"top_p": 1.5}}, "sampling.top_p"),
        ({"sampling": {"k": 0}}, "sampling.k"),
        ({"sampling": {"k": 2**70}}, "sampling.k"),
        ({"sampling": {"max_new_tokens": 10**6}}, "sampling.max_new_tokens"),
        ({"settings": {"lambda_dist": NAN}}, "settings.lambda_dist"),
        ({"preview": 2**70}, "preview"),
    ],
)
def test_a_rewrite_job_that_cannot_run_is_refused_naming_the_field(
    api: Api, change: dict[str, Any], param: str
) -> None:
    file = api.upload(jsonl_bytes([qa_record(0)]))
    response = post(api, "/v1/rewrite_jobs", {"input_file_id": file["id"], "model": "toy", **change})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert api.get("/v1/rewrite_jobs")["data"] == []


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"seed": 2**70}, "seed"),
        ({"method": {"type": "grpo", "grpo": {"beta": NAN}}}, "method.grpo.beta"),
        (
            {
                "method": {
                    "type": "grpo",
                    "grpo": {"verifier": "numeric", "verifier_options": {"tolerance": NAN}},
                }
            },
            "method.grpo.verifier_options.tolerance",
        ),
        (
            {"method": {"type": "supervised", "supervised": {"hyperparameters": {"learning_rate": NAN}}}},
            "method.supervised.hyperparameters.learning_rate",
        ),
        (
            {"method": {"type": "supervised", "supervised": {"hyperparameters": {"batch_size": 2**70}}}},
            "method.supervised.hyperparameters.batch_size",
        ),
        ({"hyperparameters": {"learning_rate_multiplier": INF}}, "hyperparameters.learning_rate_multiplier"),
    ],
)
def test_a_fine_tuning_job_with_a_value_a_trainer_would_reject_is_refused(
    api: Api, change: dict[str, Any], param: str
) -> None:
    file = api.upload(jsonl_bytes([qa_record(0)]), purpose="fine-tune")
    response = post(api, "/v1/fine_tuning/jobs", {"model": "toy", "training_file": file["id"], **change})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


@pytest.mark.parametrize(("change", "param"), [({"seed": 2**70}, "seed"), ({"n": NAN}, "n")])
def test_an_eval_run_with_a_value_out_of_range_is_refused(
    api: Api, change: dict[str, Any], param: str
) -> None:
    response = post(api, "/v1/eval_runs", {"model": "toy", **change})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_the_largest_seed_a_library_takes_is_accepted(api: Api) -> None:
    file = api.upload(jsonl_bytes([qa_record(0)]))
    job = api.create("/v1/rewrite_jobs", {"input_file_id": file["id"], "model": "toy", "seed": 2**32 - 1})
    assert job["spec"]["seed"] == 2**32 - 1


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/v1/files", "GET, HEAD, POST"),
        ("DELETE", "/v1/rewrite_jobs", "GET, HEAD, POST"),
        ("PATCH", "/v1/eval_runs/evrun-x", "GET, HEAD"),
        ("GET", "/v1/rewrite_jobs/rwjob-x/cancel", "POST"),
    ],
)
def test_an_unsupported_method_is_405_with_allow(api: Api, method: str, path: str, allow: str) -> None:
    response = api.client.request(method, path)
    assert response.status_code == 405, response.text
    assert sorted(response.headers["allow"].split(", ")) == allow.split(", ")
    assert response.json()["error"]["type"] == "invalid_request_error"
