"""/v1/fine_tuning/jobs beyond what the SDK test covers: GRPO jobs that train a rewriting adapter (used by a policy
rewrite and an eval run) and refusals at creation (the request fields against the trainers' specs:
tests/rewriter/jobs/test_fine_tune.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Api, downstream_rows, jsonl_bytes

pytestmark = pytest.mark.integration


def tiny_grpo(steps: int, **extra: Any) -> dict[str, Any]:
    """A GRPO rewriting-policy method small enough for a test: 2 prompts x 2 rewrites of 24 tokens a step."""
    grpo = {"mode": "rewriter", "hyperparameters": {"steps": steps}, "num_generations": 2, "prompts_per_step": 2,
            "max_completion_length": 24, **extra}  # fmt: skip
    return {"type": "grpo", "grpo": grpo}


@pytest.mark.slow  # three jobs in a row: ~60 s on a loaded 2-core machine
def test_grpo_job_trains_an_adapter_that_rewrite_and_eval_jobs_use(service: Callable[..., Api]) -> None:
    api = service(shard_rows=4)
    file = api.upload(jsonl_bytes(downstream_rows(8)), purpose="fine-tune")
    job = api.create(
        "/v1/fine_tuning/jobs", {"model": "toy", "training_file": file["id"], "method": tiny_grpo(steps=2)}
    )
    assert job["method"]["type"] == "grpo" and job["method"]["grpo"]["num_generations"] == 2
    done = api.wait(f"/v1/fine_tuning/jobs/{job['id']}", {"succeeded", "failed", "cancelled"}, 120)
    assert done["status"] == "succeeded", done["error"]
    adapter = api.get(f"/v1/models/{done['fine_tuned_model']}")
    assert (
        adapter["kind"] == "adapter" and adapter["parent"] == "toy" and adapter["lineage"]["method"] == "grpo"
    )
    steps = [e for e in api.events(f"/v1/fine_tuning/jobs/{job['id']}") if e["type"] == "metrics"]
    assert [e["data"]["step"] for e in steps] == [1, 2] and all("reward" in e["data"] for e in steps)

    rewrite = api.create(
        "/v1/rewrite_jobs",
        {
            "input_file_id": file["id"],
            "strategy": "policy",
            "adapter": adapter["id"],
            "verifier": "toy-number",
            "sampling": {"k": 2, "max_new_tokens": 32},
            "preview": 4,
        },
    )
    evaluation = api.create(
        "/v1/eval_runs", {"model": "toy", "adapter": adapter["id"], "suites": ["downstream"], "n": 10}
    )
    rewritten = api.wait(f"/v1/rewrite_jobs/{rewrite['id']}", {"completed", "failed", "cancelled"}, 90)
    assert rewritten["status"] == "completed", rewritten["error"]
    assert rewritten["adapter"] == adapter["id"] and rewritten["row_counts"]["completed"] == 4
    assert set(rewritten["row_counts"]["by_provenance"]) <= {"rewritten", "expert_fallback"}
    evaluated = api.wait(f"/v1/eval_runs/{evaluation['id']}", {"succeeded", "failed", "cancelled"}, 90)
    assert evaluated["status"] == "succeeded", evaluated["error"]
    assert 0.0 <= evaluated["results"]["downstream"]["accuracy"] <= 1.0
    assert evaluated["results"]["downstream"]["n"] == 10

    # An adapter is no backbone to fine-tune or rewrite with.
    for path, body in (
        ("/v1/fine_tuning/jobs", {"model": adapter["id"], "training_file": file["id"]}),
        ("/v1/rewrite_jobs", {"input_file_id": file["id"], "model": adapter["id"], "verifier": "toy-number"}),
    ):
        refused = api.client.post(path, json=body)
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "model", refused.text


@pytest.mark.slow  # a rewrite job, then a warm-started GRPO job: ~40 s on a loaded 2-core machine
def test_grpo_job_warm_starts_from_a_rewrite_jobs_output(service: Callable[..., Api]) -> None:
    api = service(shard_rows=4)
    file = api.upload(jsonl_bytes(downstream_rows(8)), purpose="fine-tune")
    rewrite = api.create(
        "/v1/rewrite_jobs",
        {"input_file_id": file["id"], "strategy": "guided_resolve", "verifier": "toy-number",
         "sampling": {"k": 2, "max_new_tokens": 64}},
    )  # fmt: skip
    rewritten = api.wait(f"/v1/rewrite_jobs/{rewrite['id']}", {"completed", "failed", "cancelled"}, 90)
    assert rewritten["status"] == "completed", rewritten["error"]
    accepted = sum(
        n for prov, n in rewritten["row_counts"]["by_provenance"].items() if prov != "expert_fallback"
    )
    assert accepted > 0
    method = tiny_grpo(steps=1, warm_start_file=rewritten["output_file_id"])
    job = api.create("/v1/fine_tuning/jobs", {"model": "toy", "training_file": file["id"], "method": method})
    assert job["method"]["grpo"]["warm_start_file"] == rewritten["output_file_id"]
    done = api.wait(f"/v1/fine_tuning/jobs/{job['id']}", {"succeeded", "failed", "cancelled"}, 120)
    assert done["status"] == "succeeded", done["error"]
    training = json.loads(api.client.get(f"/v1/files/{done['result_files'][0]}/content").content)
    warm = training["result"]["warm_start"]
    assert (warm["rows"], warm["of"]) == (accepted, 8) and warm["steps"] == 1


def test_a_validation_file_is_checked_at_creation_and_its_loss_logged_per_step(
    service: Callable[..., Api],
) -> None:
    """OpenAI's ``validation_file``: a dataset of the team, supervised only; the worker logs ``valid_loss`` (the
    completion NLL of its rows) at each validation step and the checkpoint carries the last one."""
    api = service()
    train = api.upload(jsonl_bytes(downstream_rows(8)), purpose="fine-tune")
    valid = api.upload(jsonl_bytes(downstream_rows(4, seed=1)), purpose="fine-tune")
    method = {"type": "supervised", "supervised": {"hyperparameters": {"steps": 3, "batch_size": 4}}}
    body = {"model": "toy", "training_file": train["id"], "validation_file": valid["id"], "method": method}
    job = api.create("/v1/fine_tuning/jobs", body)
    assert job["validation_file"] == valid["id"]

    other = Api(api.settings, f"globex-{api.team[-6:]}")
    try:
        foreign = other.upload(jsonl_bytes(downstream_rows(2)))
    finally:
        other.close()
    # another team's file is no file (404); a GRPO job has no validation loss
    refusals = [(foreign, {}, 404), (valid, {"method": {"type": "grpo"}}, 400)]
    for file, change, status in refusals:
        response = api.client.post(
            "/v1/fine_tuning/jobs", json={**body, "validation_file": file["id"], **change}
        )
        assert response.status_code == status and response.json()["error"]["param"] == "validation_file"

    done = api.wait(f"/v1/fine_tuning/jobs/{job['id']}", {"succeeded", "failed", "cancelled"}, 120)
    assert done["status"] == "succeeded", done["error"]
    metrics = [e["data"] for e in api.events(f"/v1/fine_tuning/jobs/{job['id']}") if e["type"] == "metrics"]
    valid_steps = [m for m in metrics if "valid_loss" in m]
    assert [m["step"] for m in valid_steps] == [1, 2, 3]  # 3 steps // 10 -> every step
    assert all(m["valid_loss"] > 0 and 0 <= m["valid_mean_token_accuracy"] <= 1 for m in valid_steps)
    assert [m["step"] for m in metrics if "train_loss" in m] == [1, 2, 3]
    checkpoint = api.get(f"/v1/fine_tuning/jobs/{job['id']}/checkpoints")["data"][0]
    assert checkpoint["metrics"]["valid_loss"] == valid_steps[-1]["valid_loss"]

    # A job's result file is a report, not a dataset.
    report = done["result_files"][0]
    response = api.client.post("/v1/fine_tuning/jobs", json={**body, "validation_file": report})
    assert response.status_code == 400 and response.json()["error"]["param"] == "validation_file"
    assert len(api.get("/v1/fine_tuning/jobs")["data"]) == 1


@pytest.mark.parametrize(
    ("change", "status", "param"),
    [
        ({"model": "gpt-9"}, 404, "model"),
        ({"training_file": "file-nope"}, 404, "training_file"),
        ({"validation_file": "file-x"}, 404, "validation_file"),
        ({"method": {"type": "dpo"}}, 400, "method.type"),
        ({"method": {"type": "supervised", "supervised": {"loss": "mse"}}}, 400, "method.supervised.loss"),
        (
            {"method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 0}}}},
            400,
            "method.supervised.hyperparameters.n_epochs",
        ),
        (
            {
                "method": {
                    "type": "supervised",
                    "supervised": {"hyperparameters": {"learning_rate_multiplier": 1e5}},
                }
            },
            400,
            "method.supervised.hyperparameters.learning_rate_multiplier",
        ),
        ({"method": {"type": "grpo", "grpo": {"verifier": "astrology"}}}, 400, "method.grpo.verifier"),
        ({"method": {"type": "grpo", "grpo": {"num_generations": 1}}}, 400, "method.grpo.num_generations"),
        ({"method": {"type": "supervised", "grpo": {}}}, 400, "method.grpo"),
        (
            {"method": {"type": "grpo", "grpo": {"warm_start_file": "file-nope"}}},
            404,
            "method.grpo.warm_start_file",
        ),
        (
            {"method": {"type": "grpo", "grpo": {"mode": "task", "warm_start_file": "file-nope"}}},
            400,
            "method.grpo.warm_start_file",
        ),
        ({"suffix": "has spaces"}, 400, "suffix"),
        (  # above the workers' REWRITER_WORKER__MAX_TRAIN_PROCESSES (2 in the tests)
            {"method": {"type": "supervised", "supervised": {"hyperparameters": {"n_processes": 3}}}},
            400,
            "method.supervised.hyperparameters.n_processes",
        ),
        (  # each process takes an equal share of the batch
            {
                "method": {
                    "type": "supervised",
                    "supervised": {"hyperparameters": {"n_processes": 2, "batch_size": 3}},
                }
            },
            400,
            "method.supervised.hyperparameters.n_processes",
        ),
        (
            {"method": {"type": "grpo", "grpo": {"hyperparameters": {"n_processes": 2}}}},
            400,
            "method.grpo.hyperparameters.n_processes",
        ),
        (
            {"method": {"type": "supervised", "supervised": {"hyperparameters": {"n_processes": 0}}}},
            400,
            "method.supervised.hyperparameters.n_processes",
        ),
    ],
)
def test_a_fine_tuning_job_that_cannot_run_is_refused(
    service: Callable[..., Api], change: dict[str, Any], status: int, param: str
) -> None:
    api = service()
    file = api.upload(jsonl_bytes(downstream_rows(4)), purpose="fine-tune")
    response = api.client.post(
        "/v1/fine_tuning/jobs", json={"model": "toy", "training_file": file["id"], **change}
    )
    assert response.status_code == status, response.text
    assert response.json()["error"]["param"] == param
    assert api.get("/v1/fine_tuning/jobs")["data"] == []


def test_a_supervised_job_trains_in_two_data_parallel_processes(service: Callable[..., Api]) -> None:
    """The job's child launches 2 ranks through accelerate (DDP, gloo); rank 0's steps stream as the job's events
    and its model is registered (the loss-curve equivalence with 1 process: tests/training/test_distributed.py)."""
    api = service()
    file = api.upload(jsonl_bytes(downstream_rows(8)), purpose="fine-tune")
    hyper = {"n_processes": 2, "batch_size": 4, "steps": 3}
    job = api.create(
        "/v1/fine_tuning/jobs",
        {
            "model": "toy",
            "training_file": file["id"],
            "method": {"type": "supervised", "supervised": {"hyperparameters": hyper}},
        },
    )
    assert job["hyperparameters"]["n_processes"] == 2
    done = api.wait(f"/v1/fine_tuning/jobs/{job['id']}", {"succeeded", "failed", "cancelled"}, timeout=120)
    assert done["status"] == "succeeded", done
    events = api.events(f"/v1/fine_tuning/jobs/{job['id']}")
    assert any("in 2 data-parallel processes" in e["message"] for e in events)
    steps = [e["data"]["step"] for e in events if e["type"] == "metrics"]
    assert steps == [1, 2, 3]  # rank 0 alone reports: each step once
    model = api.get(f"/v1/models/{done['fine_tuned_model']}")
    assert model["id"] == done["fine_tuned_model"]
