"""GRPO with a LoRA adapter (DESIGN §2.4), composed from TRL's GRPOTrainer: the rewriting policy, or on-policy task RL.

What runs, per step: ``prompts_per_step`` prompts × ``num_generations`` sampled completions from the policy (the frozen
backbone + a PEFT LoRA on every linear layer but ``lm_head``), one reward per completion, group-normalised
advantages and a clipped policy-gradient update with a KL term (``beta``) to the backbone (TRL disables the adapter for
the reference, so no second model is loaded).

- ``mode="rewriter"`` (Patch): prompt = ``REWRITE_TEMPLATE`` of (x, y*); reward = :func:`rewriter.reward.group_rewards`
  over each row's group of completions: the verifier's gate × (1 + λ_dist·r_dist + λ_div·r_div), with the NLL of each
  feasible completion under the FROZEN base model and the QA prompt, and diversity from the base's embeddings (a
  separate :class:`~rewriter.engines.hf.HFEngine` on the base directory, never the policy).
- ``mode="task"`` (the "RL forgets less" reference arm): prompt = the QA prompt of x; reward = the gate (0/1).

Warm start (rewriter mode, ``spec.warm_start``): a rewrite output of the same rows (e.g. guided_resolve's); one epoch
of LoRA SFT teaches a fresh adapter to write each accepted rewrite from the rewrite prompt of (x, y*), and GRPO goes on
from that adapter, its KL anchored to a frozen copy of it. On the toy, GRPO from scratch collapsed at a 0.51-0.67 pass
rate (most groups all-pass or all-fail: no advantage left); after the warm start 98% of the policy's rewrites pass, on
rows it never saw as well (docs/results/README.md).

Run it: ``rewriter train-rewriter train.jsonl -o out/policy [--warm-start rewritten.jsonl]`` / ``rewriter grpo-task
train.jsonl -o out/task``, or ``train_grpo("train.jsonl", "toy", "out/policy", GRPOSpec())``. On the toy a step of
4 prompts × 4 generations took 1.2-1.3 s (rewriter: ~250-token prompts, plus the base's scoring) and 0.5 s (task)
on 2 shared cores with one torch thread (~9x slower with two threads on the busy machine). 40 steps on 16 rows raised
their mean grouped reward from 0.37 to 0.60-0.65 (3 seeds). The output directory holds the LoRA adapter
(``HFEngine.generate(..., adapter=out_dir)`` loads it), the tokenizer and ``training.json`` (spec + per-step metrics,
and the warm start's rows, steps and first/last loss).
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from datasets import Dataset
from peft import LoraConfig, PeftModel
from pydantic import BaseModel, ConfigDict, Field, model_validator
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase
from transformers.trainer_callback import PrinterCallback
from trl import GRPOConfig, GRPOTrainer

from rewriter import prompts
from rewriter.backbones import model_settings, resolve_model
from rewriter.engines.hf import HFEngine
from rewriter.records import Provenance, Row
from rewriter.reward import LAMBDA_DIST, LAMBDA_DIV, group_rewards
from rewriter.verifiers import Verifier, get_verifier
from training.sft import (
    HooksCallback,
    SFTSpec,
    TrainingHooks,
    device_arguments,
    load_rows,
    train_sft,
    write_training_json,
)

Mode = Literal["rewriter", "task"]


class GRPOSpec(BaseModel):
    """How to train. Defaults fit the toy (DESIGN §3.1.1): rank 16 and lr 1e-3 (the paper's rank 64 / lr 3e-6 are for
    billion-parameter models; GRPO's default lr 1e-6 does not move the toy at all), 96-token completions."""

    model_config = ConfigDict(extra="forbid")

    mode: Mode = "rewriter"
    num_generations: int = Field(4, ge=2, le=64, description="completions per prompt (the group)")
    prompts_per_step: int = Field(4, ge=1)
    steps: int = Field(100, ge=1)
    lr: float = Field(1e-3, gt=0.0, le=1.0)
    beta: float = Field(0.001, ge=0.0, description="KL coefficient to the frozen backbone")
    lora_r: int = Field(16, ge=1, le=1024)
    lora_alpha: int = Field(32, ge=1)
    max_completion_length: int = Field(96, ge=1)
    temperature: float = Field(1.0, gt=0.0, le=2.0)
    verifier: str = "toy-number"
    verifier_options: dict[str, str | float] = Field(default_factory=dict)
    lambda_dist: float = Field(LAMBDA_DIST, ge=0.0)
    lambda_div: float = Field(LAMBDA_DIV, ge=0.0)
    seed: int = 0
    eval_every: int | None = Field(None, ge=1, description="call hooks.on_eval every N steps (and at step 0)")
    prompt_template: str | None = Field(
        None, description="QA prompt; default: the model's own (rewriter.json)"
    )
    rewrite_template: str = prompts.REWRITE_TEMPLATE
    warm_start: str | None = Field(
        None,
        description="rewriter mode: a rewrite output of the same rows (JSONL, e.g. guided_resolve's); the adapter "
        "first learns by LoRA SFT to write each accepted rewrite from the rewrite prompt, then GRPO goes on from it",
    )
    warm_start_epochs: float = Field(1.0, gt=0.0, le=100.0, description="passes over the accepted rewrites")
    warm_start_lr: float = Field(1e-3, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _check(self) -> GRPOSpec:
        get_verifier(self.verifier, **self.verifier_options)  # refuse an unknown verifier or bad options now
        if self.prompt_template is not None:
            prompts.check_template(self.prompt_template, needs_reference=False)
        prompts.check_template(self.rewrite_template, needs_reference=True)
        if self.warm_start is not None and self.mode != "rewriter":
            raise ValueError("warm_start is for the rewriting policy (mode='rewriter')")
        return self

    @property
    def completions_per_step(self) -> int:
        # TRL's per_device_train_batch_size counts completions, not prompts; one generation batch per step.
        return self.prompts_per_step * self.num_generations


@dataclass
class GRPOResult:
    out_dir: str
    # one dict per logged step: TRL's (reward, kl, ...) and ours (rewrite/..., gate/...)
    metrics: list[dict[str, Any]]
    train_seconds: float
    stopped: bool = False


# ---------------------------------------------------------------------------------------------------- rewards


def groups(n: int, size: int) -> list[slice]:
    """The contiguous groups of a generation batch (TRL keeps a prompt's completions together, in prompt order).

    >>> groups(6, 3)
    [slice(0, 3, None), slice(3, 6, None)]
    """
    if size < 1 or n % size:
        raise ValueError(f"a batch of {n} completions is not a whole number of groups of {size}")
    return [slice(start, start + size) for start in range(0, n, size)]


def check_groups(prompts_: Sequence[str], size: int) -> list[slice]:
    """Groups, after checking that each one holds a single prompt (a misaligned slice would mix rows' rewards)."""
    out = groups(len(prompts_), size)
    for group in out:
        if len(set(prompts_[group])) != 1:
            raise ValueError("a group of completions spans several prompts: groups are not contiguous")
    return out


def spread(values: Sequence[float]) -> float:
    """Population std of one group's values (0 for fewer than two).

    >>> spread([1.0, 1.0]), spread([0.0, 2.0])
    (0.0, 1.0)
    """
    return float(np.std(values)) if len(values) > 1 else 0.0


class RewriteReward:
    """Patch's grouped reward for TRL: called once per generation batch, scores each row's group together."""

    __name__ = "rewrite"

    def __init__(self, verifier: Verifier, base: HFEngine, num_generations: int, spec: GRPOSpec) -> None:
        self.verifier = verifier
        self.base = base
        self.k = num_generations
        self.lambda_dist = spec.lambda_dist
        self.lambda_div = spec.lambda_div

    def __call__(
        self, prompts: list[str], completions: list[str], question: list[str], gold: list[str], **kw: Any
    ) -> list[float]:
        spans = check_groups(prompts, self.k)
        passed = [v.passed for v in self.verifier.verify_many(completions, gold)]
        feasible = [i for i, ok in enumerate(passed) if ok]
        # NLL under the frozen base with the QA prompt, in one batched teacher-forced pass over the feasible ones.
        nlls: list[float | None] = [None] * len(completions)
        if feasible:
            scored = self.base.score(
                [question[i] for i in feasible], [completions[i] for i in feasible], conditioning="qa"
            )
            for i, logprobs in zip(feasible, scored, strict=True):
                nlls[i] = -sum(logprobs) / max(1, len(logprobs))
        # Embeddings only where a group has two or more feasible candidates (diversity needs a pair).
        width = 0
        embeddings: list[list[float]] = [[] for _ in completions]
        wanted = [i for g in spans if sum(passed[g]) > 1 for i in range(g.start, g.stop) if passed[i]]
        if wanted:
            for i, vector in zip(wanted, self.base.embed([completions[i] for i in wanted]), strict=True):
                embeddings[i] = vector
            width = len(embeddings[wanted[0]])
        totals: list[float] = []
        stats: dict[str, list[float]] = {
            "dist": [],
            "div": [],
            "dist_spread": [],
            "div_spread": [],
            "zero": [],
        }
        for g in spans:
            vectors = [e or [0.0] * width for e in embeddings[g]] if width else None
            rewards = group_rewards(
                passed[g], nlls[g], vectors, lambda_dist=self.lambda_dist, lambda_div=self.lambda_div
            )
            totals += [r.total for r in rewards]
            ok = [r for r in rewards if r.task > 0]
            stats["dist"] += [r.dist for r in ok]
            stats["div"] += [r.div for r in ok]
            if len(ok) > 1:
                stats["dist_spread"].append(spread([r.dist for r in ok]))
                stats["div_spread"].append(spread([r.div for r in ok]))
            stats["zero"].append(float(spread([r.total for r in rewards]) == 0.0))
        log = kw.get("log_metric")
        if log is not None:
            feasible_nll = [n for n in nlls if n is not None]
            log("rewrite/task", float(np.mean(passed)))
            log("rewrite/dist", _mean(stats["dist"]))  # over feasible completions
            log("rewrite/div", _mean(stats["div"]))
            # Within-group variation of the graded terms (over groups with 2+ feasible): 0 would mean the group terms
            # carry no signal, which is what scoring candidates one at a time produces.
            log("rewrite/dist_group_std", _mean(stats["dist_spread"]))
            log("rewrite/div_group_std", _mean(stats["div_spread"]))
            log("rewrite/zero_spread_groups", _mean(stats["zero"]))
            log("rewrite/base_nll", _mean(feasible_nll))
        return totals


class GateReward:
    """On-policy task RL: the gate alone, 1.0 for a completion whose answer equals the gold, else 0.0."""

    __name__ = "gate"

    def __init__(self, verifier: Verifier, num_generations: int) -> None:
        self.verifier = verifier
        self.k = num_generations

    def __call__(self, prompts: list[str], completions: list[str], gold: list[str], **kw: Any) -> list[float]:
        spans = check_groups(prompts, self.k)
        rewards = [1.0 if v.passed else 0.0 for v in self.verifier.verify_many(completions, gold)]
        if (log := kw.get("log_metric")) is not None:
            log("gate/task", float(np.mean(rewards)))
            log("gate/zero_spread_groups", _mean([float(spread(rewards[g]) == 0.0) for g in spans]))
        return rewards


def _mean(values: Sequence[float]) -> float:
    # NaN when undefined: TRL's logger drops NaN values and reports None for a step that has none.
    return float(np.mean(values)) if len(values) else math.nan


# ---------------------------------------------------------------------------------------------------- entry point


def to_prompts(rows: Sequence[Row], spec: GRPOSpec, qa_template: str) -> list[dict[str, str]]:
    """Rows as GRPO examples: the prompt the policy sees, plus the question and gold the reward needs.

    >>> to_prompts([Row("a", "2+2", "so 4. The result is 4.")], GRPOSpec(mode="task"), "Q: {question}\\nA: ")
    [{'prompt': 'Q: 2+2\\nA: ', 'question': '2+2', 'gold': 'so 4. The result is 4.'}]
    """
    out = []
    for row in rows:
        if spec.mode == "rewriter":
            prompt = prompts.render(spec.rewrite_template, row.question, row.answer)
        else:
            prompt = prompts.render(qa_template, row.question)
        out.append({"prompt": prompt, "question": row.question, "gold": row.gold_or_answer})
    return out


ACCEPTED = frozenset({Provenance.SELF, Provenance.GUIDED, Provenance.REWRITTEN})


def warm_start_rows(rows: Sequence[Row], rewritten: Sequence[Row], template: str) -> list[Row]:
    """The warm start's SFT examples: for each row with an accepted rewrite in ``rewritten`` (matched by id), the
    rewrite prompt of (x, y*) → that rewrite. Expert fallbacks and rows the rewrite does not hold are left out.

    >>> rows = [Row("a", "2+2", "two and two make four"), Row("b", "3+3", "six")]
    >>> done = [Row("a", "2+2", "2+2=4 #4", raw={"meta": {"provenance": "guided"}}),
    ...         Row("b", "3+3", "six", raw={"meta": {"provenance": "expert_fallback"}})]
    >>> [(r.question, r.answer) for r in warm_start_rows(rows, done, "{question} | {reference} ->")]
    [('2+2 | two and two make four ->', '2+2=4 #4')]
    """
    accepted = {r.id: r.answer for r in rewritten if _provenance(r) in ACCEPTED}
    return [
        Row(
            row.id,
            prompts.render(template, row.question, row.answer),
            accepted[row.id],
            schema="prompt_completion",
        )
        for row in rows
        if row.id in accepted
    ]


def _provenance(row: Row) -> str | None:
    meta = row.raw.get("meta")
    return meta.get("provenance") if isinstance(meta, dict) else None


def warm_start(rows: Sequence[Row], model_path: Path, out: Path, spec: GRPOSpec) -> dict[str, Any]:
    """LoRA SFT of a fresh adapter on the accepted rewrites of ``spec.warm_start``; the adapter lands in ``out``."""
    assert spec.warm_start is not None
    examples = warm_start_rows(rows, load_rows(spec.warm_start), spec.rewrite_template)
    if not examples:
        raise ValueError(
            f"the warm start {spec.warm_start} holds no accepted rewrite (provenance self, guided or rewritten) of "
            "the training rows' ids: pass the output of a rewrite of this same file"
        )
    batch = 16
    steps = max(1, math.ceil(spec.warm_start_epochs * len(examples) / batch))
    sft = SFTSpec(
        lora=True,
        lora_r=spec.lora_r,
        lora_alpha=spec.lora_alpha,
        lr=spec.warm_start_lr,
        steps=steps,
        batch_size=batch,
        seed=spec.seed,
    )
    result = train_sft(examples, model_path, out, sft)
    losses = [m["loss"] for m in result.metrics if "loss" in m]
    return {
        "rows": len(examples),
        "of": len(rows),
        "steps": steps,
        "loss_first": losses[0] if losses else None,
        "loss_last": losses[-1] if losses else None,
        "seconds": round(result.train_seconds, 1),
    }


def train_grpo(
    data: str | Path | Sequence[Row],
    model_dir: str | Path,
    out_dir: str | Path,
    spec: GRPOSpec | None = None,
    callbacks: TrainingHooks | None = None,
) -> GRPOResult:
    """Train a LoRA adapter on the model at ``model_dir`` (or ``"toy"``) with TRL's GRPOTrainer on ``data`` (a JSONL
    path in any of our schemas or parsed rows): the rewriting policy (``spec.mode="rewriter"``) or on-policy task RL
    (``"task"``). Writes the adapter, the tokenizer and ``training.json`` to ``out_dir``."""
    spec = spec or GRPOSpec()
    model_path = resolve_model(model_dir)
    qa_template = spec.prompt_template or model_settings(model_path).get("qa_template", prompts.QA_TEMPLATE)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = load_rows(data)
    if len(rows) < spec.prompts_per_step:
        raise ValueError(
            f"the training data has {len(rows)} rows but a step needs {spec.prompts_per_step} distinct prompts: "
            "lower prompts_per_step or add rows"
        )
    # The warm start first: a file that matches no row fails before any model loads, and its SFT runs alone
    warm = warm_start(rows, model_path, out / ".warm-start", spec) if spec.warm_start is not None else None
    verifier = get_verifier(spec.verifier, **spec.verifier_options)
    reward: RewriteReward | GateReward
    if spec.mode == "rewriter":
        base = HFEngine(model_path, device="auto", qa_template=qa_template)
        reward = RewriteReward(verifier, base, spec.num_generations, spec)
    else:
        reward = GateReward(verifier, spec.num_generations)

    tokenizer: PreTrainedTokenizerBase = AutoTokenizer.from_pretrained(model_path)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    lora: LoraConfig | None = None
    if warm is not None:
        # Start GRPO from the adapter that already writes accepted rewrites; TRL then keeps a frozen copy of it as
        # the KL reference ("ref"), so beta anchors the policy to its warm start.
        model = PeftModel.from_pretrained(model, out / ".warm-start", is_trainable=True)
    else:
        lora = LoraConfig(
            r=spec.lora_r,
            lora_alpha=spec.lora_alpha,
            lora_dropout=0.0,
            target_modules="all-linear",  # PEFT leaves the output layer (lm_head) out; vLLM drops a LoRA'd lm_head
            task_type="CAUSAL_LM",
        )
    config = GRPOConfig(
        output_dir=str(out),
        max_steps=spec.steps,
        per_device_train_batch_size=spec.completions_per_step,
        gradient_accumulation_steps=1,
        num_generations=spec.num_generations,
        max_completion_length=spec.max_completion_length,
        temperature=spec.temperature,
        beta=spec.beta,
        learning_rate=spec.lr,
        seed=spec.seed,
        data_seed=spec.seed,
        remove_unused_columns=False,  # the reward needs the question and gold columns
        **device_arguments(),
    )
    hooks = HooksCallback(
        callbacks,
        eval_every=spec.eval_every,
        adapter=True,
        base_model=str(model_path),
        scratch=out / ".snapshots",
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[reward],
        args=config,
        train_dataset=Dataset.from_list(to_prompts(rows, spec, qa_template)),
        processing_class=tokenizer,
        peft_config=lora,
        callbacks=[hooks, *(callbacks.extra if callbacks else ())],
    )
    trainer.remove_callback(PrinterCallback)  # per-step metrics go to hooks and training.json, not stdout

    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start

    # PEFT save_pretrained: adapter_config.json + adapter_model.safetensors; plus the tokenizer
    trainer.save_model(str(out))
    for scratch in (".snapshots", ".warm-start", "ref"):  # "ref": TRL's frozen copy of a warm-started adapter
        shutil.rmtree(out / scratch, ignore_errors=True)
    result = GRPOResult(str(out), hooks.metrics, seconds, hooks.stopped)
    write_training_json(
        out,
        kind="grpo",
        spec=spec.model_dump(),
        base_model=str(model_path),
        result={
            "metrics": result.metrics,
            "train_seconds": seconds,
            "stopped": result.stopped,
            "rows": len(rows),
            "warm_start": warm,
            "summary": hooks.summary,
        },
    )
    return result
