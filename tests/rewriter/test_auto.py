"""The auto cascade on the toy: self -> guided -> the team's policy (with an adapter) -> fallback, per-row stage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rewriter import pipeline, prompts
from rewriter.engines import load_engine
from rewriter.specs import StrategySpec
from tests.rewriter.test_pipeline import write_downstream

K = 2


ROWS = 12
SUITE = "downstream-style-prose"  # guided re-solving works on prose, so each stage has rows to produce


@pytest.fixture(scope="module")
def engine():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two threads on the 2 shared cores ran this ~5x slower than one
    yield load_engine("toy", "hf", "cpu")
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def adapter(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A LoRA adapter on the toy (zero-initialised B: it rewrites as the base does through the policy's prompt)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from rewriter.backbones import resolve_model

    base = AutoModelForCausalLM.from_pretrained(resolve_model("toy"))
    path = tmp_path_factory.mktemp("policy") / "adapter"
    get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"])).save_pretrained(path)
    return str(path)


def _run(tmp_path: Path, engine, name: str, **kw) -> list[dict]:
    spec = StrategySpec(verifier="toy-number", max_new_tokens=80, k=K, **kw)
    pipeline.run(tmp_path / "in.jsonl", tmp_path / f"{name}.jsonl", spec, engine, shard_rows=ROWS)
    return [json.loads(line) for line in (tmp_path / f"{name}.jsonl").open()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, engine, adapter: str) -> dict[str, list[dict]]:
    tmp_path = tmp_path_factory.mktemp("auto")
    write_downstream(tmp_path / "in.jsonl", ROWS, suite=SUITE)
    return {
        "guided": _run(tmp_path, engine, "guided", strategy="guided_resolve"),
        "auto": _run(tmp_path, engine, "auto", strategy="auto"),
        # The policy's instruction here is the guided one, sampled at T1: the base under it solves some rows the
        # guided stage (T2, other seeds) did not, so the policy stage has rows to produce.
        "cascade": _run(
            tmp_path,
            engine,
            "cascade",
            strategy="auto",
            adapter=adapter,
            rewrite_template=prompts.GUIDED_TEMPLATE,
        ),
    }


def test_auto_without_an_adapter_is_guided_resolve_with_stages(runs: dict[str, list[dict]]) -> None:
    guided, auto = runs["guided"], runs["auto"]
    assert [r["answer"] for r in auto] == [r["answer"] for r in guided]
    stage_of = {"self": "self", "guided": "guided", "expert_fallback": "fallback"}
    for row in auto:
        assert row["meta"]["stage"] == stage_of[row["meta"]["provenance"]]
    assert "stage" not in guided[0]["meta"]


def test_the_policy_stage_runs_only_on_rows_self_and_guided_left(runs: dict[str, list[dict]]) -> None:
    plain, cascade = runs["auto"], runs["cascade"]
    assert {r["meta"]["stage"] for r in plain} >= {"guided", "fallback"}
    stages = [r["meta"]["stage"] for r in cascade]
    assert "policy" in stages
    for before, after in zip(plain, cascade, strict=True):
        if before["meta"]["stage"] in ("self", "guided"):  # solved early: the policy stage never saw the row
            assert (
                after["answer"] == before["answer"]
                and after["meta"]["attempts"] == before["meta"]["attempts"]
            )
        else:  # unsolved: K more candidates from the policy, and the row is the policy's or still the expert's
            assert after["meta"]["attempts"] == before["meta"]["attempts"] + K
            assert after["meta"]["stage"] in ("policy", "fallback")
            if after["meta"]["stage"] == "policy":
                assert (
                    after["meta"]["provenance"] == "rewritten" and after["meta"]["gate"]["status"] == "pass"
                )


def test_an_adapter_is_refused_for_strategies_without_a_policy_stage() -> None:
    with pytest.raises(ValueError, match="policy and auto"):
        StrategySpec(strategy="guided_resolve", adapter="x")
    assert StrategySpec(strategy="auto", adapter="x").chosen_selection == "min_nll"


def test_a_rewrite_job_request_takes_auto_and_names_a_bad_field() -> None:
    from rewriter.errors import InvalidRequest
    from rewriter.jobs.rewrite import RewriteJobRequest, strategy_spec

    spec = strategy_spec(RewriteJobRequest(input_file_id="file-1", strategy="auto", adapter="ft:toy:acme:1"))
    assert spec.strategy == "auto" and spec.adapter == "ft:toy:acme:1"
    with pytest.raises(InvalidRequest) as refused:
        strategy_spec(
            RewriteJobRequest(input_file_id="file-1", strategy="guided_resolve", adapter="ft:toy:acme:1")
        )
    assert "policy and auto" in str(refused.value)  # the combination is refused, naming the strategies
