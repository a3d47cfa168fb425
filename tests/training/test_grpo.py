"""GRPO with TRL's GRPOTrainer on the committed toy backbone: the grouped rewriter reward scores each row's group
together (its r_dist and r_div vary within a group), training logs the reward parts per step, the rewriting policy's
reward rises, and on-policy task RL saves an adapter the hf engine loads."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from rewriter.backbones import resolve_model
from rewriter.engines.hf import HFEngine
from rewriter.prompts import REWRITE_TEMPLATE
from rewriter.verifiers import get_verifier
from tests.factories import downstream_rows
from training.grpo import GRPOSpec, train_grpo
from training.grpo_rewards import RewriteReward
from training.hooks import Snapshot, TrainingHooks

TOY = "toy"
pytestmark = pytest.mark.usefixtures("one_thread")


def test_rewriter_mode_trains_and_logs_reward_parts(tmp_path: Path) -> None:
    spec = GRPOSpec(steps=2, prompts_per_step=2, num_generations=4, max_completion_length=48)
    result = train_grpo(downstream_rows(32), TOY, tmp_path / "policy", spec)

    steps = [m for m in result.metrics if "reward" in m]
    assert [m["step"] for m in steps] == [1, 2]
    for m in steps:
        for key in ("rewrite/task", "rewrite/zero_spread_groups", "frac_reward_zero_std", "kl"):
            assert key in m and m[key] is not None and math.isfinite(m[key])
        # our count of groups whose rewards are all equal agrees with TRL's
        assert m["rewrite/zero_spread_groups"] == pytest.approx(m["frac_reward_zero_std"])
        # the logged parts add up to the reward TRL trained on: mean r = pass rate · (1 + λ_dist·r_dist + λ_div·r_div)
        task, dist, div = m["rewrite/task"], m["rewrite/dist"], m["rewrite/div"]
        expected = task * (1 + spec.lambda_dist * dist + spec.lambda_div * div) if task else 0.0
        assert m["reward"] == pytest.approx(expected, abs=1e-5)

    out = tmp_path / "policy"
    assert (out / "adapter_config.json").exists() and (out / "adapter_model.safetensors").exists()
    saved = json.loads((out / "training.json").read_text())
    assert saved["kind"] == "grpo" and saved["spec"]["mode"] == "rewriter"
    assert len(saved["result"]["metrics"]) == 2


def test_task_mode_saves_an_adapter_the_engine_loads(tmp_path: Path, base: HFEngine) -> None:
    # The base answers these QA prompts right ~75% of the time when sampling: most groups have a reward spread, so
    # the update is not zero (a task the base always solves gives every group the same reward and no gradient).
    rows = downstream_rows(16, house=True)
    spec = GRPOSpec(
        mode="task", steps=2, prompts_per_step=4, num_generations=4, max_completion_length=48, eval_every=2
    )

    def on_eval(snapshot: Snapshot) -> dict[str, float]:
        assert snapshot.adapter and snapshot.base_model == str(resolve_model(TOY))
        scored = base.score([rows[0].question], [rows[0].answer], conditioning="qa", adapter=snapshot.path)
        return {"eval_logprob": sum(scored[0])}

    result = train_grpo(rows, TOY, tmp_path / "task", spec, TrainingHooks(on_eval=on_eval))

    trained = [m for m in result.metrics if "reward" in m]
    assert [m["step"] for m in trained] == [1, 2]
    assert all("gate/task" in m and "rewrite/task" not in m for m in trained)
    curve = [(m["step"], m["eval_logprob"]) for m in result.metrics if "eval_logprob" in m]
    assert [step for step, _ in curve] == [0, 2] and curve[0][1] != curve[1][1]
    engine = HFEngine(resolve_model(TOY), device="cpu")
    adapter = str(tmp_path / "task")
    tuned = engine.score([rows[0].question], [rows[0].answer], conditioning="qa", adapter=adapter)[0]
    plain = engine.score([rows[0].question], [rows[0].answer], conditioning="qa")[0]
    assert len(tuned) == len(plain) and tuned != plain  # the adapter is loaded and changes the model
    out = engine.generate(
        [rows[0].question], temperature=0.0, max_new_tokens=48, conditioning="qa", adapter=adapter
    )
    assert out[0][0].text


@pytest.mark.slow
def test_rewriter_grpo_raises_the_reward(tmp_path: Path, base: HFEngine) -> None:
    """40 steps of 4 prompts × 4 rewrites (LoRA rank 16, lr 1e-3) on 16 rows raise their mean grouped reward.

    The backbone never saw the rewrite instruction in pretraining, so its zero-shot rewrites rarely pass the gate and
    the policy has much to learn. The reward is measured on the training rows with 16 rewrites each, before and after
    (measured: 0.083 -> 0.271; 2 s/step on 2 cores shared with six other processes).
    """
    spec = GRPOSpec(
        steps=40, prompts_per_step=4, num_generations=4, temperature=1.5, max_completion_length=48
    )
    rows = downstream_rows(16)
    samples_per_row = 16
    reward = RewriteReward(get_verifier(spec.verifier), base, samples_per_row, spec)

    def mean_reward(adapter: str | None) -> float:
        prompts = [REWRITE_TEMPLATE.format(question=r.question, reference=r.answer) for r in rows]
        samples = base.generate(
            prompts,
            n=samples_per_row,
            temperature=spec.temperature,
            max_new_tokens=48,
            seed=123,
            adapter=adapter,
        )
        completions = [g.text for group in samples for g in group]

        def repeat(values: list[str]) -> list[str]:
            return [v for v in values for _ in range(samples_per_row)]

        totals = reward(
            repeat(prompts), completions, repeat([r.question for r in rows]), repeat([r.gold for r in rows])
        )
        return float(np.mean(totals))

    before = mean_reward(None)
    result = train_grpo(rows, TOY, tmp_path / "policy", spec)
    after = mean_reward(str(tmp_path / "policy"))

    steps = [m for m in result.metrics if "reward" in m]
    logged = [m["reward"] for m in steps]
    print(
        f"GRPO rewriter: {result.train_seconds / spec.steps:.2f} s/step; reward on its rows {before:.3f} -> "
        f"{after:.3f}; logged reward first 10 steps {np.mean(logged[:10]):.3f}, last 10 {np.mean(logged[-10:]):.3f}"
    )
    assert after > before + 0.1
    assert np.mean(logged[-10:]) > np.mean(logged[:10])
    # The graded terms varied within groups while training (Patch's released code scored candidates one at a time,
    # which makes them constant).
    assert sum((m["rewrite/dist_group_std"] or 0.0) > 0.01 for m in steps) >= 5
    assert sum((m["rewrite/div_group_std"] or 0.0) > 0.0 for m in steps) >= 5
