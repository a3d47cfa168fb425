"""GRPO with TRL's GRPOTrainer on the committed toy backbone: the grouped rewriter reward scores each row's group
together (its r_dist and r_div vary within a group), training logs the reward parts per step, the rewriting policy's
reward rises, and on-policy task RL saves an adapter the hf engine loads."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from rewriter.backbones import resolve_model
from rewriter.engines.hf import HFEngine
from rewriter.formats import output_record
from rewriter.prompts import QA_TEMPLATE, REWRITE_TEMPLATE
from rewriter.records import Row
from rewriter.suites import get_suite
from rewriter.verifiers import get_verifier
from training.grpo import GRPOSpec, RewriteReward, check_groups, groups, train_grpo
from training.sft import Snapshot, TrainingHooks

TOY = "toy"


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    # The 2 cores are shared: two intra-op threads on a busy machine ran GRPO ~8x slower than one.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def base() -> HFEngine:
    return HFEngine(resolve_model(TOY), device="cpu")


def downstream_rows(n: int, offset: int = 0, *, house: bool = False) -> list[Row]:
    """Downstream word problems of the "finds" kind (the toy base solves or rewrites them ~70% right when sampling),
    with their prose expert answers (or the house-style ones)."""
    examples = [
        e for e in get_suite("downstream").examples("train", 4 * (n + offset)) if e.subtype == "finds"
    ]
    picked = examples[offset : offset + n]
    assert len(picked) == n
    return [
        Row(f"r{offset + i}", e.question, e.house if house else e.expert, e.gold)
        for i, e in enumerate(picked)
    ]


# ---------------------------------------------------------------------------------------------------- the reward


def test_groups_must_be_contiguous() -> None:
    assert groups(8, 4) == [slice(0, 4), slice(4, 8)]
    with pytest.raises(ValueError, match="whole number"):
        groups(6, 4)
    with pytest.raises(ValueError, match="contiguous"):
        check_groups(["a", "b", "a", "b"], 2)


def test_rewrite_reward_scores_each_group_together(base: HFEngine) -> None:
    spec = GRPOSpec()
    reward = RewriteReward(get_verifier("toy-number"), base, 4, spec)
    q1, q2 = (
        "kim has 77 cups and finds 57 more. how many cups now?",
        "ann has 5 pens and finds 3 more. how many pens now?",
    )
    group_a = [
        "77+57: 7+7=14 7+5+1=13 #134",  # house style: cheap under the base
        "Kim starts with 77 cups and finds 57 more, so 77 plus 57 gives 134. The result is 134.",  # prose: costly
        "77+57: 7+7=14 7+5+1=13 #134 #134",
        "77+57: 7+7=14 7+5+1=12 #124",  # wrong
    ]
    group_b = ["5+3=9 #9", "5+3=7 #7", "#10", "the result is 2."]  # all wrong
    prompts = [REWRITE_TEMPLATE.format(question=q1, reference="...")] * 4 + [
        QA_TEMPLATE.format(question=q2)
    ] * 4
    logged: dict[str, float] = {}

    def log_metric(name: str, value: float) -> None:
        logged[name] = value

    both = reward(
        prompts, group_a + group_b, [q1] * 4 + [q2] * 4, ["134"] * 4 + ["8"] * 4, log_metric=log_metric
    )
    alone = reward(prompts[:4], group_a, [q1] * 4, ["134"] * 4)

    assert both[:4] == pytest.approx(alone)  # a group's rewards do not depend on the other rows in the batch
    assert both[3] == 0.0 and both[4:] == [0.0] * 4
    assert all(r > 1.0 for r in both[:3])
    assert both[0] > both[1]  # the house-style rewrite is closer to the base than the prose one
    assert len({round(r, 6) for r in both[:3]}) == 3
    # The graded terms vary within the group (scored one at a time they would be constant: dist 0.5, div 0).
    assert logged["rewrite/dist_group_std"] > 0.1
    assert logged["rewrite/div_group_std"] > 0.0
    assert logged["rewrite/task"] == pytest.approx(3 / 8)
    assert logged["rewrite/zero_spread_groups"] == pytest.approx(0.5)  # group B: every reward 0
    single = RewriteReward(get_verifier("toy-number"), base, 1, spec)
    one_at_a_time = [single(prompts[i : i + 1], [group_a[i]], [q1], ["134"])[0] for i in range(3)]
    assert one_at_a_time == pytest.approx([1 + spec.lambda_dist * 0.5] * 3)


def test_spec_refuses_what_cannot_run() -> None:
    with pytest.raises(ValueError, match="unknown verifier"):
        GRPOSpec(verifier="nope")
    with pytest.raises(ValueError, match="reference"):
        GRPOSpec(rewrite_template="Problem:\n{question}\n\nRewritten solution:\n")
    with pytest.raises(ValueError):
        GRPOSpec(num_generations=1)
    assert GRPOSpec(prompts_per_step=3, num_generations=4).completions_per_step == 12


# ---------------------------------------------------------------------------------------------------- training


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


def write_rewrite_output(path: Path, rows: list[Row], targets: list[str], provenance: list[str]) -> Path:
    """A rewrite output file as the pipeline writes it: the rows' ids, the chosen targets, meta.provenance."""
    with path.open("w") as fh:
        for row, target, prov in zip(rows, targets, provenance, strict=True):
            record = output_record(row, target, {"provenance": prov, "strategy": "guided_resolve"})
            fh.write(json.dumps(record) + "\n")
    return path


def test_warm_start_trains_the_adapter_on_accepted_rewrites_before_grpo(
    tmp_path: Path, base: HFEngine
) -> None:
    rows = downstream_rows(16)
    house = downstream_rows(16, house=True)
    provenance = ["guided"] * 12 + ["expert_fallback"] * 4  # fallbacks are prose: they must not be learned
    targets = [h.answer for h in house[:12]] + [r.answer for r in rows[12:]]
    rewritten = write_rewrite_output(tmp_path / "rewritten.jsonl", rows, targets, provenance)
    spec = GRPOSpec(
        steps=1, prompts_per_step=2, num_generations=4, max_completion_length=48,
        warm_start=str(rewritten), warm_start_epochs=4,
    )  # fmt: skip
    out = tmp_path / "policy"
    train_grpo(rows, TOY, out, spec)

    warm = json.loads((out / "training.json").read_text())["result"]["warm_start"]
    assert (warm["rows"], warm["of"], warm["steps"]) == (12, 16, 3)
    assert warm["loss_last"] < warm["loss_first"]
    assert not any((out / d).exists() for d in (".warm-start", "ref", ".snapshots"))
    # The policy now finds the accepted rewrites likelier, from the rewrite prompt, than the untrained backbone did.
    prompts = [REWRITE_TEMPLATE.format(question=r.question, reference=r.answer) for r in rows[:12]]

    def mean_logprob(adapter: str | None) -> float:
        scored = base.score(prompts, targets[:12], adapter=adapter)
        return float(np.mean([np.mean(s) for s in scored]))

    assert mean_logprob(str(out)) > mean_logprob(None) + 0.1


def test_warm_start_refuses_a_rewrite_of_other_rows(tmp_path: Path) -> None:
    rows = downstream_rows(4)
    others = [Row(f"other-{i}", r.question, r.answer, r.gold) for i, r in enumerate(rows)]
    rewritten = write_rewrite_output(
        tmp_path / "other.jsonl", others, [r.answer for r in rows], ["guided"] * 4
    )
    spec = GRPOSpec(steps=1, prompts_per_step=2, warm_start=str(rewritten))
    with pytest.raises(ValueError, match="no accepted rewrite"):
        train_grpo(rows, TOY, tmp_path / "policy", spec)
    with pytest.raises(ValueError, match="rewriting policy"):
        GRPOSpec(mode="task", warm_start=str(rewritten))
