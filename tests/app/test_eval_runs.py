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
