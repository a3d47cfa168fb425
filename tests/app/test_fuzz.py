"""Fuzz the job-creation bodies and the list/events query parameters through a real HTTP client: whatever is sent,
the answer is never a 5xx, and every 4xx is the OpenAI error envelope (issue 12, "refuse at creation; never 500").

Hypothesis draws bodies that keep the field names (so values reach the field validators, not only ``extra``) with
values from the nasty end: NaN, ±inf, integers past 2**64, huge floats, empty and odd strings, wrong types. The
bodies are sent as raw JSON (``NaN``/``Infinity`` included, as Python's json writes them).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rewriter.settings import Settings
from tests.conftest import Api, jsonl_bytes
from tests.factories import qa_record

pytestmark = pytest.mark.integration

EXAMPLES = 200  # per endpoint: ~1,200 requests, ~1 minute on 2 loaded cores
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

nasty_numbers = st.one_of(
    st.sampled_from(
        [float("nan"), float("inf"), float("-inf"), 2**70, -(2**70), 2**64, 2**63, 2**32, -1, 0, 1e308]
    ),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
)
scalars = st.one_of(nasty_numbers, st.text(max_size=20), st.booleans(), st.none())
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def body(
    fields: dict[str, st.SearchStrategy[Any]], base: dict[str, Any]
) -> st.SearchStrategy[dict[str, Any]]:
    """``base`` with some of ``fields`` set to drawn values (each field's own strategy, or anything at all)."""
    drawn = {name: st.one_of(strategy, values) for name, strategy in fields.items()}
    return st.fixed_dictionaries({name: st.just(value) for name, value in base.items()}, optional=drawn)


SAMPLING = st.fixed_dictionaries(
    {},
    optional={
        key: nasty_numbers for key in ("k", "temperature", "guided_temperature", "top_p", "max_new_tokens")
    },
)
VERIFIER_OPTIONS = st.dictionaries(
    st.sampled_from(["tolerance", "timeout", "letters", "pattern", "x"]), scalars, max_size=2
)
HYPER = st.fixed_dictionaries(
    {},
    optional={
        key: st.one_of(nasty_numbers, st.just("auto"))
        for key in ("n_epochs", "steps", "batch_size", "learning_rate_multiplier", "learning_rate")
    },
)


class Counts:
    requests = 0
    by_status: dict[int, int] = {}


def send(api: Api, method: str, path: str, **kwargs: Any) -> None:
    response = api.client.request(method, path, **kwargs)
    Counts.requests += 1
    Counts.by_status[response.status_code] = Counts.by_status.get(response.status_code, 0) + 1
    assert response.status_code < 500, f"{method} {path} {kwargs}: {response.status_code} {response.text}"
    if response.status_code >= 400:
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}, response.text


def post_json(api: Api, path: str, payload: dict[str, Any]) -> None:
    content = json.dumps(
        payload, allow_nan=True
    )  # NaN and Infinity go out as JS literals, as clients send them
    send(api, "POST", path, content=content, headers={"Content-Type": "application/json"})


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    api = Api(settings, "fuzz")
    yield api
    api.close()
    print(f"\nfuzz: {Counts.requests} requests, statuses {dict(sorted(Counts.by_status.items()))}")


def test_rewrite_job_bodies_never_5xx(api: Api) -> None:
    file = api.upload(jsonl_bytes([qa_record(i) for i in range(3)]))

    @FUZZ
    @given(
        body(
            {
                "strategy": st.sampled_from(["identity", "self_distill", "guided_resolve", "policy"]),
                "verifier": st.sampled_from(["math", "numeric", "exact", "choice", "regex", "nope"]),
                "verifier_options": VERIFIER_OPTIONS,
                "sampling": SAMPLING,
                "seed": nasty_numbers,
                "preview": nasty_numbers,
                "settings": st.dictionaries(
                    st.sampled_from(["lambda_dist", "lambda_div", "selection", "k"]), scalars
                ),
                "output_schema": st.sampled_from(["qa", "messages", "x"]),
                "metadata": values,
            },
            {"input_file_id": file["id"], "model": "toy"},
        )
    )
    def check(payload: dict[str, Any]) -> None:
        post_json(api, "/v1/rewrite_jobs", payload)

    check()


def test_fine_tuning_job_bodies_never_5xx(api: Api) -> None:
    file = api.upload(jsonl_bytes([qa_record(i) for i in range(3)]), purpose="fine-tune")
    grpo = st.fixed_dictionaries(
        {},
        optional={
            "hyperparameters": HYPER,
            "num_generations": nasty_numbers,
            "beta": nasty_numbers,
            "temperature": nasty_numbers,
            "lambda_dist": nasty_numbers,
            "verifier": st.sampled_from(["numeric", "math"]),
            "verifier_options": VERIFIER_OPTIONS,
        },
    )
    supervised = st.fixed_dictionaries(
        {}, optional={"hyperparameters": HYPER, "lora_r": nasty_numbers, "max_length": nasty_numbers}
    )
    method = st.one_of(
        st.fixed_dictionaries({"type": st.just("grpo"), "grpo": grpo}),
        st.fixed_dictionaries({"type": st.just("supervised"), "supervised": supervised}),
    )

    @FUZZ
    @given(
        body(
            {
                "method": method,
                "hyperparameters": HYPER,
                "seed": nasty_numbers,
                "suffix": st.text(max_size=70),
            },
            {"model": "toy", "training_file": file["id"]},
        )
    )
    def check(payload: dict[str, Any]) -> None:
        post_json(api, "/v1/fine_tuning/jobs", payload)

    check()


def test_eval_run_bodies_never_5xx(api: Api) -> None:
    @FUZZ
    @given(
        body(
            {
                "suites": st.lists(st.sampled_from(["add", "sub", "nope", ""]), max_size=3),
                "n": nasty_numbers,
                "seed": nasty_numbers,
                "adapter": st.text(max_size=10),
                "base": st.sampled_from(["toy", "nope"]),
                "files": st.lists(
                    st.fixed_dictionaries(
                        {
                            "file_id": st.sampled_from(["file-nope", ""]),
                            "verifier": st.sampled_from(["numeric", "x"]),
                        },
                        optional={
                            "verifier_options": VERIFIER_OPTIONS,
                            "role": st.sampled_from(["retention", "x"]),
                        },
                    ),
                    max_size=2,
                ),
                "harness": st.fixed_dictionaries(
                    {
                        "tasks": st.lists(
                            st.fixed_dictionaries({"task": st.sampled_from(["toy_add", "a b", ""])})
                        )
                    },
                    optional={"num_fewshot": nasty_numbers, "limit": nasty_numbers},
                ),
            },
            {"model": "toy"},
        )
    )
    def check(payload: dict[str, Any]) -> None:
        post_json(api, "/v1/eval_runs", payload)

    check()


def test_raw_bodies_never_5xx(api: Api) -> None:
    """Not JSON, JSON that is not an object, an empty body: 400 on every create route."""

    @FUZZ
    @given(
        st.sampled_from(["/v1/rewrite_jobs", "/v1/fine_tuning/jobs", "/v1/eval_runs"]),
        st.one_of(
            st.binary(max_size=40), st.builds(lambda v: json.dumps(v, allow_nan=True).encode(), values)
        ),
    )
    def check(path: str, content: bytes) -> None:
        send(api, "POST", path, content=content, headers={"Content-Type": "application/json"})

    check()


CURSORS = st.one_of(
    st.sampled_from(
        ["18446744073709551616-0", "18446744073709551615-18446744073709551615", "abc", "-1-0", "0-0", ""]
    ),
    st.builds(
        lambda a, b: f"{a}-{b}",
        st.integers(min_value=-1, max_value=2**70),
        st.integers(min_value=-1, max_value=2**70),
    ),
    st.text(max_size=30),
)


def test_query_parameters_never_5xx(api: Api) -> None:
    """The list and events routes' ``after``/``limit``/``order`` (and the rows route's filters), on real ids."""
    file = api.upload(jsonl_bytes([qa_record(i) for i in range(3)]))
    job = api.create("/v1/rewrite_jobs", {"input_file_id": file["id"], "model": "toy"})
    run = api.create("/v1/eval_runs", {"model": "toy", "suites": ["add"], "n": 1})
    api.store.add_event(job["id"], "hello")
    paths = [
        "/v1/files",
        "/v1/rewrite_jobs",
        "/v1/fine_tuning/jobs",
        "/v1/eval_runs",
        f"/v1/rewrite_jobs/{job['id']}/events",
        f"/v1/eval_runs/{run['id']}/events",
        f"/v1/rewrite_jobs/{job['id']}/rows",
        "/v1/fine_tuning/jobs/ftjob-nope/checkpoints",
    ]
    query = st.fixed_dictionaries(
        {},
        optional={
            "after": st.one_of(CURSORS, st.builds(lambda c: f"rwevent-{c}", CURSORS)),
            "limit": st.one_of(st.integers(), st.text(max_size=5)).map(str),
            "order": st.sampled_from(["asc", "desc", "sideways"]),
            "purpose": st.text(max_size=5),
            "sort": st.sampled_from(["file", "nll_after", "x"]),
        },
    )

    @FUZZ
    @given(st.sampled_from(paths), query)
    def check(path: str, params: dict[str, str]) -> None:
        send(api, "GET", path, params=params)

    check()


@pytest.mark.parametrize(
    "after",
    ["18446744073709551616-0", "abc", "-1-0", "1-18446744073709551616", "rwevent-99999999999999999999999-0"],
)
def test_an_events_cursor_out_of_range_is_400(api: Api, after: str) -> None:
    file = api.upload(jsonl_bytes([qa_record(0)]))
    job = api.create("/v1/rewrite_jobs", {"input_file_id": file["id"], "model": "toy"})
    response = api.client.get(f"/v1/rewrite_jobs/{job['id']}/events", params={"after": after})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "after"


def test_events_after_the_largest_stream_id_is_an_empty_page(api: Api) -> None:
    file = api.upload(jsonl_bytes([qa_record(0)]))
    job = api.create("/v1/rewrite_jobs", {"input_file_id": file["id"], "model": "toy"})
    largest = f"{2**64 - 1}-{2**64 - 1}"
    page = api.get(f"/v1/rewrite_jobs/{job['id']}/events?after={largest}")
    assert page["data"] == [] and page["has_more"] is False
