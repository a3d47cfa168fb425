"""Supervised fine-tuning of a backbone on any dataset in our formats (DESIGN §2.4), composed from TRL's SFTTrainer.

What runs: each row becomes a prompt and its target, ``qa`` (default: the QA prompt of the question; a
``prompt_completion`` row keeps its prompt verbatim) or ``chat`` conditioning (the model's chat template over the
row's conversation, system prompt and earlier turns included, the final assistant turn the target). Each is
tokenized here by the rule scoring uses (``rewriter.engines.base.encode_targets``: the target's tokens through its
EOS / end-of-turn token) and TRL's ``SFTTrainer`` trains on it with completion-only loss (label -100 elsewhere),
full fine-tuning or a PEFT LoRA on every linear layer but ``lm_head``.
Loss types:

- ``nll``: plain token cross-entropy;
- ``dft``: TRL's own ``loss_type="dft"``, ``−sg(p_θ(y_t))·log p_θ(y_t)`` (Dynamic Fine-Tuning);
- ``is``: importance-weighted NLL (Mind the Gap, stage 2), ``w_t = clip(sg(p_θ(y_t)) / p_β(y_t), 0, c)`` with
  ``p_β`` the generator's probability recorded at rewrite time (``meta.generator.token_logprobs``) and ``p_β = 1``
  for expert rows; loss ``−Σ w_t log p_θ(y_t) / #tokens``. TRL has no per-token weights: :class:`WeightedSFTTrainer`
  overrides ``compute_loss`` and :class:`~training.sft_data.BehaviorCollator` wraps TRL's collator to carry the
  recorded log-probs.

Validation (OpenAI's ``validation_file``): with ``validation=`` data, the trainer computes the plain token NLL of that
data's completions — the same tokenization and completion-only mask as training, whatever the training ``loss`` —
every ``validation_every`` steps (default: a tenth of the run) and at the last step, and logs it as ``eval_loss``
with ``eval_mean_token_accuracy`` (the fine-tune job reports them as ``valid_loss``).

Two levers for rows no rewrite passed (issue 15): ``token_weighting`` ``mask`` / ``down`` weights each target token
by its NLL under the base (``training.token_weights``), and ``replay_ratio`` mixes the base's own samples on the
training prompts, or the rows of ``replay_file``, into the training set (``training.replay``).

Run it: ``rewriter sft rewritten.jsonl -o out/sft --loss is`` or ``train_sft("rewritten.jsonl", "toy", "out/sft",
SFTSpec(loss="is"))``. On the toy backbone a step of batch 32 took 0.32-0.40 s (full) and 0.47 s (LoRA) on 2 cores
shared with other jobs, with ONE torch thread: two intra-op threads on the busy machine were ~9x slower (3.5 s per
step), so a worker sharing its cores should ``torch.set_num_threads(1)``. The output directory holds the full model
(or the LoRA adapter), the tokenizer and ``training.json`` (spec + per-step metrics).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from datasets import Dataset
from pydantic import BaseModel, ConfigDict, Field, model_validator
from transformers.trainer_callback import PrinterCallback
from trl import SFTConfig, SFTTrainer
from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

from rewriter import prompts
from rewriter.backbones import resolve_model
from rewriter.records import Row
from training import replay
from training.hooks import HooksCallback, TrainingHooks
from training.runtime import (
    copy_model_settings,
    device_arguments,
    load_model,
    load_rows,
    lora_config,
    write_training_json,
)
from training.sft_data import BehaviorCollator, count_behavior, to_examples, tokenize_examples
from training.token_weights import TokenWeighting, add_base_logprobs, token_weights

# TrainingHooks is re-exported: training/jobs.py (the fine-tune job's child) imports it from here.
__all__ = ["SFTResult", "SFTSpec", "TrainingHooks", "WeightedSFTTrainer", "importance_weights", "train_sft"]

LossType = Literal["nll", "dft", "is"]


class SFTSpec(BaseModel):
    """How to fine-tune. Defaults are the toy recipe of DESIGN §4.1 (full fine-tune, AdamW lr 1e-4, batch 32,
    100 steps)."""

    model_config = ConfigDict(extra="forbid")

    loss: LossType = "nll"
    lora: bool = False
    lora_r: int = Field(16, ge=1, le=1024)
    lora_alpha: int = Field(32, ge=1)
    lr: float = Field(1e-4, gt=0.0, le=1.0)
    steps: int = Field(100, ge=1)
    batch_size: int = Field(32, ge=1, description="rows per optimizer step, over all processes")
    n_processes: int = Field(
        1,
        ge=1,
        description="data-parallel processes (DDP); >1 runs under `accelerate launch` (training.distributed), each "
        "process taking batch_size / n_processes rows of every step",
    )
    max_length: int = Field(
        512, ge=8, description="prompt + completion tokens; longer rows are cut at the end"
    )
    # c = 2: truncated importance sampling. Tokens the tuned model finds unlikely next to the generator are
    # down-weighted freely (w -> 0), which is what IS is for; a token it finds far likelier (the QA-prompted model
    # is often surer than the guided generator was) counts at most 2x its plain-NLL weight, which bounds the
    # variance a few p_β << p_θ tokens would add. c = 1 would never let a token count more than in plain NLL.
    # Expert rows (p_β = 1) have w = p_θ <= 1 and never reach the clip.
    lr_scheduler: Literal["constant", "linear", "cosine"] = Field(
        "constant",
        description="'AdamW lr 1e-4' means a constant rate: TRL's default linear decay halves the mean step, and "
        "expert SFT then forgot 22% of base-skill accuracy instead of the >= 30% the recipe is meant to show",
    )
    is_clip: float = Field(2.0, gt=0.0)
    seed: int = 0
    eval_every: int | None = Field(None, ge=1, description="call hooks.on_eval every N steps (and at step 0)")
    validation_every: int | None = Field(
        None,
        ge=1,
        description="with validation data: its loss every N steps (default steps // 10) and at the last",
    )
    prompt_template: str = prompts.QA_TEMPLATE
    conditioning: Literal["qa", "chat"] = Field(
        "qa",
        description="qa: the question in prompt_template (the toy's recipe); chat: the model's chat template over the "
        "row's conversation (a messages row's system prompt and earlier turns kept), the final assistant turn as "
        "the only target: the tokens `score` rates under chat conditioning",
    )
    token_weighting: TokenWeighting = Field(
        "none",
        description="mask / down-weight target tokens by their NLL under the base (training.token_weights)",
    )
    token_nll_threshold: float = Field(2.5, gt=0.0, description="τ in nats (STM masks above ~2.5)")
    replay_ratio: float = Field(0.0, ge=0.0, le=0.9, description="share of replay rows in the training set")
    replay_file: str | None = Field(
        None, description="replay these rows (any schema); default: the base's samples"
    )

    @model_validator(mode="after")
    def _check(self) -> SFTSpec:
        prompts.check_template(self.prompt_template, needs_reference=False)
        if self.batch_size % self.n_processes:
            raise ValueError(
                f"batch_size {self.batch_size} must be a multiple of n_processes {self.n_processes}: every process "
                "takes the same share of each step"
            )
        if self.token_weighting != "none" and self.loss != "nll":
            raise ValueError(
                f"token_weighting weights the nll loss; it does not combine with loss {self.loss!r}"
            )
        if self.replay_file is not None and self.replay_ratio == 0:
            raise ValueError("replay_file is given but replay_ratio is 0: set replay_ratio (e.g. 0.3)")
        return self


@dataclass
class SFTResult:
    out_dir: str
    metrics: list[dict[str, Any]]  # per logged step ({"step": n, "loss": ...}); eval results merged in
    train_seconds: float
    stopped: bool = False
    rows: int = 0
    behavior: dict[str, int] = field(default_factory=dict)  # `is` only: rows with / without / mismatched p_β


# ---------------------------------------------------------------------------------------------------- loss


def importance_weights(logp_theta: torch.Tensor, logp_behavior: torch.Tensor, clip: float) -> torch.Tensor:
    """``w_t = clip(sg(p_θ(y_t)) / p_β(y_t), 0, c)``, computed in log space; any shape, same shape out.

    >>> w = importance_weights(torch.log(torch.tensor([0.5, 0.9, 0.1])), torch.log(torch.tensor([0.25, 0.3, 1.0])), 2.0)
    >>> [round(x, 4) for x in w.tolist()]
    [2.0, 2.0, 0.1]
    """
    return torch.exp(logp_theta.detach() - logp_behavior).clamp(min=0.0, max=clip)


class WeightedSFTTrainer(SFTTrainer):
    """SFTTrainer with the ``is`` loss: per-token weights from the batch's ``behavior_logprobs`` (else TRL's loss)."""

    def __init__(
        self,
        *args: Any,
        is_clip: float | None = None,
        token_weighting: tuple[TokenWeighting, float] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.is_clip = is_clip
        self.token_weighting = token_weighting  # (mode, τ): behavior_logprobs then hold the base's log-probs

    def compute_loss(
        self,
        model: Any,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        behavior = inputs.pop("behavior_logprobs", None)  # [B, T]
        if not self.model.training:
            return self._validation_loss(model, inputs, return_outputs)
        if (self.is_clip is None and self.token_weighting is None) or behavior is None:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        mode = "train" if self.model.training else "eval"
        # TRL's fused head: per-token log-probs of the next-token labels, without the [B, T, V] logits.
        outputs = model(**inputs, use_cache=False, fused_lm_head=True)
        logp = outputs.log_probs  # [B, T-1], position t scores labels[:, t+1]; 0 where the label is ignored
        mask = outputs.label_mask.to(logp.dtype)  # [B, T-1]
        if self.token_weighting is not None:
            weights = token_weights(behavior[:, 1:].to(logp), *self.token_weighting) * mask  # [B, T-1]
        else:
            assert self.is_clip is not None
            weights = importance_weights(logp, behavior[:, 1:].to(logp), self.is_clip) * mask  # [B, T-1]
        num_tokens = mask.sum() if num_items_in_batch is None else num_items_in_batch
        loss = -(weights * logp).sum() / torch.as_tensor(num_tokens).clamp(min=1)
        # As TRL's own loss: under DDP `num_items_in_batch` counts the tokens of every process and DDP averages the
        # gradients over the processes, so the sum is scaled back up by their number.
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * self.accelerator.num_processes

        valid = mask.sum().clamp(min=1)
        metrics = self._metrics[mode]
        metrics["entropy"].append((outputs.entropy.detach() * mask).sum().item() / valid.item())
        metrics["mean_token_accuracy"].append((outputs.is_top1 * mask).sum().item() / valid.item())
        metrics["token_weight_mean" if self.token_weighting else "is_weight_mean"].append(
            weights.detach().sum().item() / valid.item()
        )
        if self.is_clip is not None:
            metrics["is_clipped_frac"].append(((weights >= self.is_clip) * mask).sum().item() / valid.item())
        return (loss, outputs) if return_outputs else loss

    def _validation_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool) -> Any:
        """Plain token NLL over the completion tokens (the training mask), for every training loss: a ``dft`` or
        ``is`` loss is weighted by the model's own probabilities, which would make the validation curves of two
        runs incomparable."""
        outputs = model(**inputs, use_cache=False, fused_lm_head=True)
        mask = outputs.label_mask.to(outputs.log_probs.dtype)  # [B, T-1]
        tokens = mask.sum().clamp(min=1)
        loss = -(outputs.log_probs * mask).sum() / tokens
        metrics = self._metrics["eval"]
        metrics["mean_token_accuracy"].append((outputs.is_top1 * mask).sum().item() / tokens.item())
        return (loss, outputs) if return_outputs else loss


# ---------------------------------------------------------------------------------------------------- entry point


def train_sft(
    data: str | Path | Sequence[Row],
    model_dir: str | Path,
    out_dir: str | Path,
    spec: SFTSpec | None = None,
    callbacks: TrainingHooks | None = None,
    *,
    validation: str | Path | Sequence[Row] | None = None,
) -> SFTResult:
    """Fine-tune the model at ``model_dir`` (or ``"toy"``) on ``data`` (a JSONL path in any of our schemas, a
    rewrite output included, or parsed rows) with TRL's SFTTrainer; write the model or adapter, the tokenizer and
    ``training.json`` to ``out_dir``. With ``validation`` (the same kinds), log its loss as ``eval_loss``."""
    spec = spec or SFTSpec()
    world = int(os.environ.get("WORLD_SIZE", "1"))  # set by `accelerate launch` (torchrun) in every process
    if world != spec.n_processes:
        raise ValueError(
            f"n_processes is {spec.n_processes} but this run has {world} process(es): a data-parallel run starts "
            "under `accelerate launch` (training.distributed.train_distributed)"
        )
    model_path = str(resolve_model(model_dir))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = load_rows(data)
    if not rows:
        raise ValueError("the training data has no rows")
    if spec.replay_ratio > 0:
        pool = (
            load_rows(spec.replay_file)
            if spec.replay_file
            else replay.base_samples(model_path, rows, spec.seed)
        )
        rows = replay.mix(rows, pool, spec.replay_ratio, spec.seed)
    weighted = spec.loss == "is" or spec.token_weighting != "none"
    valid_rows = None
    if validation is not None:
        valid_rows = load_rows(validation)
        if not valid_rows:
            raise ValueError("the validation data has no rows")
    eval_steps = spec.validation_every or max(1, spec.steps // 10)

    model, tokenizer = load_model(model_path)
    examples = to_examples(rows, spec.prompt_template, behavior=weighted, conditioning=spec.conditioning)
    dataset = Dataset.from_list(tokenize_examples(examples, tokenizer, spec.conditioning))
    eval_dataset = None
    if valid_rows is not None:
        valid = to_examples(valid_rows, spec.prompt_template, conditioning=spec.conditioning)
        eval_dataset = Dataset.from_list(tokenize_examples(valid, tokenizer, spec.conditioning))
    peft_config = lora_config(spec.lora_r, spec.lora_alpha) if spec.lora else None
    config = SFTConfig(
        output_dir=str(out),
        max_steps=spec.steps,
        per_device_train_batch_size=spec.batch_size // spec.n_processes,
        gradient_accumulation_steps=1,
        learning_rate=spec.lr,
        lr_scheduler_type=spec.lr_scheduler,
        seed=spec.seed,
        data_seed=spec.seed,
        loss_type="dft" if spec.loss == "dft" else "nll",
        completion_only_loss=True,
        max_length=spec.max_length,
        # `is` needs the generator log-probs to reach the collator; TRL drops unknown columns otherwise.
        remove_unused_columns=not weighted,
        eval_strategy="steps" if eval_dataset is not None else "no",
        eval_steps=eval_steps,
        per_device_eval_batch_size=spec.batch_size,
        prediction_loss_only=True,  # the loss only: no [N, T, V] logits gathered over the validation set
        **device_arguments(),
    )
    hooks = HooksCallback(
        callbacks,
        eval_every=spec.eval_every,
        adapter=spec.lora,
        base_model=model_path,
        scratch=out / ".snapshots",
    )
    collator = BehaviorCollator(DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id))
    trainer = WeightedSFTTrainer(
        model=model,
        args=config,
        train_dataset=dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        data_collator=collator if weighted else None,
        peft_config=peft_config,
        callbacks=[hooks, *(callbacks.extra if callbacks else ())],
        is_clip=spec.is_clip if spec.loss == "is" else None,
        token_weighting=(spec.token_weighting, spec.token_nll_threshold)
        if spec.token_weighting != "none"
        else None,
    )
    if spec.token_weighting != "none":  # the model as loaded is the base: score its targets before any step
        trainer.train_dataset = add_base_logprobs(trainer.model, trainer.train_dataset)
    trainer.remove_callback(PrinterCallback)  # per-step metrics go to hooks and training.json, not stdout
    behavior = count_behavior(trainer.train_dataset) if spec.loss == "is" else {}

    start = time.perf_counter()
    trainer.train()  # transformers' flow callback evaluates at the last step too
    seconds = time.perf_counter() - start

    # The adapter for LoRA, the full model for full fine-tuning; plus the tokenizer. Under DDP every process holds
    # the same weights: the Trainer saves from the first process only, and only that one writes the files beside.
    trainer.save_model(str(out))
    result = SFTResult(str(out), hooks.metrics, seconds, hooks.stopped, len(rows), behavior)
    if not trainer.is_world_process_zero():
        return result
    if not spec.lora:
        copy_model_settings(model_path, out)
    shutil.rmtree(out / ".snapshots", ignore_errors=True)
    write_training_json(
        out,
        kind="sft",
        spec=spec.model_dump(),
        base_model=model_path,
        result={
            "metrics": result.metrics,
            "train_seconds": seconds,
            "stopped": result.stopped,
            "rows": result.rows,
            "behavior": behavior,
            "summary": hooks.summary,
        },
    )
    return result
