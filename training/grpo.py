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

Warm start (rewriter mode, ``spec.warm_start``, :mod:`training.warm_start`): a rewrite output of the same rows (e.g.
guided_resolve's); one epoch of LoRA SFT teaches a fresh adapter to write each accepted rewrite from the rewrite prompt
of (x, y*), and GRPO goes on from that adapter, its KL anchored to a frozen copy of it. On the toy, GRPO from scratch
collapsed at a 0.51-0.67 pass rate (most groups all-pass or all-fail: no advantage left); after the warm start 98% of
the policy's rewrites pass, on rows it never saw as well (docs/results/README.md).

Run it: ``rewriter train-rewriter train.jsonl -o out/policy [--warm-start rewritten.jsonl]`` / ``rewriter grpo-task
train.jsonl -o out/task``, or ``train_grpo("train.jsonl", "toy", "out/policy", GRPOSpec())``. On the toy a step of
4 prompts × 4 generations took 1.2-1.3 s (rewriter: ~250-token prompts, plus the base's scoring) and 0.5 s (task)
on 2 shared cores with one torch thread (~9x slower with two threads on the busy machine). 40 steps on 16 rows raised
their mean grouped reward from 0.37 to 0.60-0.65 (3 seeds). The output directory holds the LoRA adapter
(``HFEngine.generate(..., adapter=out_dir)`` loads it), the tokenizer and ``training.json`` (spec + per-step metrics,
and the warm start's rows, steps and first/last loss).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasets import Dataset
from peft import LoraConfig, PeftModel
from transformers.trainer_callback import PrinterCallback
from trl import GRPOConfig, GRPOTrainer

from rewriter import prompts
from rewriter.backbones import model_settings, resolve_model
from rewriter.engines.hf import HFEngine
from rewriter.records import Row
from rewriter.verifiers import get_verifier
from training.grpo_rewards import GateReward, RewriteReward
from training.grpo_spec import GRPOSpec
from training.hooks import HooksCallback, TrainingHooks
from training.runtime import device_arguments, load_model, load_rows, lora_config, write_training_json
from training.warm_start import warm_start

# GRPOSpec is re-exported: callers (cli, training/jobs.py, tests) import it with train_grpo.
__all__ = ["GRPOResult", "GRPOSpec", "to_prompts", "train_grpo"]


@dataclass
class GRPOResult:
    out_dir: str
    # one dict per logged step: TRL's (reward, kl, ...) and ours (rewrite/..., gate/...)
    metrics: list[dict[str, Any]]
    train_seconds: float
    stopped: bool = False


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

    model, tokenizer = load_model(model_path)
    lora: LoraConfig | None = None
    if warm is not None:
        # Start GRPO from the adapter that already writes accepted rewrites; TRL then keeps a frozen copy of it as
        # the KL reference ("ref"), so beta anchors the policy to its warm start.
        model = PeftModel.from_pretrained(model, out / ".warm-start", is_trainable=True)
    else:
        lora = lora_config(spec.lora_r, spec.lora_alpha)
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
