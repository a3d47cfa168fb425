"""/v1/eval_runs through a real worker: per-suite accuracy, and gain and forgetting against a base."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Api

pytestmark = pytest.mark.integration


def test_eval_run_scores_suites_and_compares_with_the_base(service: Callable[..., Api]) -> None:
    api = service()
    run = api.create(
        "/v1/eval_runs", {"model": "toy", "suites": ["downstream", "add"], "n": 20, "base": "toy"}
    )
    assert run["id"].startswith("eval-") and run["object"] == "eval_run" and run["status"] == "queued"
    done = api.wait(f"/v1/eval_runs/{run['id']}", {"succeeded", "failed", "cancelled"}, 60)
    assert done["status"] == "succeeded", done["error"]
    results = done["results"]
    assert set(results) == {"downstream", "add"} and all(r["n"] == 20 for r in results.values())
    assert results["add"]["accuracy"] > 0.8, "the toy backbone adds well (DESIGN §4.1)"
    assert 0.0 < results["downstream"]["accuracy"] < 1.0, "and half-solves the downstream task"
    assert results["add"]["samples"][0]["gold"]
    # Greedy decoding is deterministic: the model against itself gains and forgets nothing.
    assert done["base_results"] == results
    comparison = done["comparison"]
    assert comparison["gain"] == 0.0 and comparison["forgetting_abs"] == 0.0
    assert set(comparison["retention"]) == {"add"} and set(comparison["downstream"]) == {"downstream"}
    events = api.events(f"/v1/eval_runs/{run['id']}")
    assert all(e["id"].startswith("evalevent-") and e["object"] == "eval_run.event" for e in events)
    assert any(e["type"] == "metrics" and e["data"].get("add") == results["add"]["accuracy"] for e in events)


@pytest.mark.parametrize(
    ("change", "status", "param"),
    [
        ({"suites": ["astrology"]}, 400, "suites"),
        ({"suites": []}, 400, "suites"),
        ({"n": 0}, 400, "n"),
        ({"model": "gpt-9"}, 404, "model"),
        ({"base": "gpt-9"}, 404, "base"),
        ({"adapter": "ft:toy:x:y"}, 404, "adapter"),
    ],
)
def test_an_eval_run_that_cannot_run_is_refused(
    service: Callable[..., Api], change: dict[str, Any], status: int, param: str
) -> None:
    api = service()
    response = api.client.post("/v1/eval_runs", json={"model": "toy", "suites": ["add"], **change})
    assert response.status_code == status, response.text
    assert response.json()["error"]["param"] == param


def held_out_chat_rows(n: int) -> list[dict[str, Any]]:
    """Downstream test problems as `messages` rows with a system prompt and GSM8K-style answers (``#### N``):
    a format and answer style the toy suites never use."""
    from rewriter.suites import get_suite

    return [
        {
            "id": f"h{i}",
            "messages": [
                {"role": "system", "content": "Solve the word problem."},
                {"role": "user", "content": e.question},
                {"role": "assistant", "content": f"{e.expert}\n#### {e.gold}"},
            ],
        }
        for i, e in enumerate(get_suite("downstream").examples("test", n))
    ]


def test_eval_run_on_a_team_file_and_harness_tasks(service: Callable[..., Api]) -> None:
    from rewriter.harness import write_tasks
    from tests.conftest import jsonl_bytes

    api = service()
    tasks_dir = api.settings.harness_tasks_dir  # the worker's too: the same data dir
    write_tasks(tasks_dir, ["add", "reverse"], n=20)
    held_out = api.upload(jsonl_bytes(held_out_chat_rows(20)), purpose="eval")
    reverse_rows = (tasks_dir / "toy_reverse.jsonl").read_bytes().splitlines(keepends=True)[:8]
    task_data = api.upload(b"".join(reverse_rows), purpose="eval")
    run = api.create(
        "/v1/eval_runs",
        {
            "model": "toy",
            "base": "toy",
            "suites": ["downstream"],
            "n": 20,
            "files": [{"file_id": held_out["id"], "verifier": "numeric"}],
            "harness": {"tasks": [{"task": "toy_add"}, {"task": "toy_reverse", "file_id": task_data["id"]}]},
        },
    )
    assert run["files"][0]["role"] == "downstream" and run["harness"]["tasks"][0]["task"] == "toy_add"
    done = api.wait(f"/v1/eval_runs/{run['id']}", {"succeeded", "failed", "cancelled"}, 120)
    assert done["status"] == "succeeded", done["error"]
    results = done["results"]
    assert set(results) == {"downstream", held_out["id"], "toy_add", "toy_reverse"}
    mine = results[held_out["id"]]
    assert mine["source"] == "file" and mine["verifier"] == "numeric" and mine["n"] == 20
    # The same problems as the suite, in another format and answer style, graded by another verifier.
    assert mine["accuracy"] == results["downstream"]["accuracy"]
    assert mine["samples"][0]["gold"].endswith("#### " + mine["samples"][0]["gold"].split()[-1])
    add, reverse = results["toy_add"], results["toy_reverse"]
    assert add["source"] == "harness" and add["n"] == 20 and add["accuracy"] > 0.8
    assert add["harness"] == {
        "metric": "exact_match,toy-answer",
        "num_fewshot": 0,
        "apply_chat_template": False,
        "lm_eval_version": add["harness"]["lm_eval_version"],
        "model_class": "HFLM",
        "data_file_id": None,
    }
    assert reverse["n"] == 8 and reverse["harness"]["data_file_id"] == task_data["id"]
    comparison = done["comparison"]
    assert set(comparison["downstream"]) == {"downstream", held_out["id"]}
    assert set(comparison["retention"]) == {"toy_add", "toy_reverse"}
    assert comparison["downstream"][held_out["id"]]["gain"] == 0.0, "the base against itself"


def test_an_eval_run_on_files_or_tasks_that_cannot_run_is_refused(service: Callable[..., Api]) -> None:
    from rewriter.harness import write_tasks
    from tests.conftest import jsonl_bytes

    api, other = service(), service(team="other")
    write_tasks(api.settings.harness_tasks_dir, ["add"], n=2)
    mine = api.upload(jsonl_bytes(held_out_chat_rows(2)), purpose="eval")["id"]
    theirs = other.upload(jsonl_bytes(held_out_chat_rows(2)), purpose="eval")["id"]
    good = {"file_id": mine, "verifier": "numeric"}
    cases: list[tuple[dict[str, Any], int, str, str]] = [
        ({"files": [{"file_id": "file-nope", "verifier": "numeric"}]}, 404, "files[0].file_id", "file-nope"),
        ({"files": [good, {"file_id": theirs, "verifier": "numeric"}]}, 404, "files[1].file_id", theirs),
        ({"files": [{"file_id": mine, "verifier": "astrology"}]}, 400, "files[0].verifier", "astrology"),
        (
            {"files": [{**good, "verifier": "regex", "verifier_options": {"pattern": "x"}}]},
            400,
            "files[0].verifier",
            "group",
        ),
        ({"files": [good, good]}, 400, "files[1].file_id", mine),
        ({"files": [{**good, "role": "both"}]}, 400, "files.0.role", "role"),
        ({"harness": {"tasks": [{"task": "mmlu_nowhere"}]}}, 400, "harness.tasks[0].task", "mmlu_nowhere"),
        ({"harness": {"tasks": []}}, 400, "harness.tasks", "tasks"),
        (
            {"harness": {"tasks": [{"task": "toy_add", "file_id": theirs}]}},
            404,
            "harness.tasks[0].file_id",
            theirs,
        ),
    ]
    for change, status, param, named in cases:
        response = api.client.post("/v1/eval_runs", json={"model": "toy", **change})
        assert response.status_code == status, (change, response.text)
        error = response.json()["error"]
        assert error["param"] == param and named in error["message"], (change, error)
    assert api.get("/v1/eval_runs")["data"] == [], "nothing was recorded"
