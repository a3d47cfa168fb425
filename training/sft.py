"""Supervised fine-tuning of a backbone on any dataset in our formats (DESIGN §2.4), composed from TRL's SFTTrainer.

What runs: each row becomes ``{"prompt": <QA prompt of the question>, "completion": <target>}`` (a
``prompt_completion`` row keeps its prompt verbatim) and TRL's ``SFTTrainer`` trains on it with completion-only loss
(TRL masks the prompt and appends EOS), full fine-tuning or a PEFT LoRA on every linear layer but ``lm_head``.
Loss types:

- ``nll``: plain token cross-entropy;
- ``dft``: TRL's own ``loss_type="dft"``, ``−sg(p_θ(y_t))·log p_θ(y_t)`` (Dynamic Fine-Tuning);
- ``is``: importance-weighted NLL (Mind the Gap, stage 2), ``w_t = clip(sg(p_θ(y_t)) / p_β(y_t), 0, c)`` with
  ``p_β`` the generator's probability recorded at rewrite time (``meta.generator.token_logprobs``) and ``p_β = 1``
  for expert rows; loss ``−Σ w_t log p_θ(y_t) / #tokens``. TRL has no per-token weights: :class:`WeightedSFTTrainer`
  overrides ``compute_loss`` and :class:`BehaviorCollator` wraps TRL's collator to carry the recorded log-probs.

Run it: ``rewriter sft rewritten.jsonl -o out/sft --loss is`` or ``train_sft("rewritten.jsonl", "toy", "out/sft",
SFTSpec(loss="is"))``. On the toy backbone a step of batch 32 took 0.32-0.40 s (full) and 0.47 s (LoRA) on 2 cores
shared with other jobs, with ONE torch thread: two intra-op threads on the busy machine were ~9x slower (3.5 s per
step), so a worker sharing its cores should ``torch.set_num_threads(1)``. The output directory holds the full model
(or the LoRA adapter), the tokenizer and ``training.json`` (spec + per-step metrics).
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from datasets import Dataset
from peft import LoraConfig
from pydantic import BaseModel, ConfigDict, Field, model_validator
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedTokenizerBase,
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)
from transformers.trainer_callback import PrinterCallback
from trl import SFTConfig, SFTTrainer
from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

from rewriter import prompts
from rewriter.backbones import resolve_model
from rewriter.formats import read_rows
from rewriter.records import Row

LossType = Literal["nll", "dft", "is"]
IGNORE = -100  # label of tokens outside the completion (TRL's and transformers' convention)


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
    batch_size: int = Field(32, ge=1)
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
    prompt_template: str = prompts.QA_TEMPLATE

    @model_validator(mode="after")
    def _check(self) -> SFTSpec:
        prompts.check_template(self.prompt_template, needs_reference=False)
        return self


@dataclass(frozen=True)
class Snapshot:
    """The weights at ``step``, saved to ``path`` for an evaluation hook: a full model directory, or (``adapter``)
    a PEFT adapter directory to load on ``base_model``. The directory is deleted once the hook returns."""

    step: int
    path: str
    adapter: bool
    base_model: str


@dataclass
class TrainingHooks:
    """Caller hooks into a training run (SFT and GRPO).

    ``on_step(step, metrics)`` after every logged step (stream progress events); ``on_eval(snapshot)`` every
    ``spec.eval_every`` steps and at step 0, returning metrics (e.g. downstream/retention accuracy) that join that
    step's metrics (curves); ``should_stop()`` polled after every step: True stops training cleanly (cancel), the
    weights so far are still saved and ``training.json`` says ``"stopped": true``.
    """

    on_step: Callable[[int, dict[str, Any]], None] | None = None
    on_eval: Callable[[Snapshot], dict[str, float]] | None = None
    should_stop: Callable[[], bool] | None = None
    extra: Sequence[TrainerCallback] = ()


@dataclass
class SFTResult:
    out_dir: str
    metrics: list[dict[str, Any]]  # per logged step ({"step": n, "loss": ...}); eval results merged in
    train_seconds: float
    stopped: bool = False
    rows: int = 0
    behavior: dict[str, int] = field(default_factory=dict)  # `is` only: rows with / without / mismatched p_β


# ---------------------------------------------------------------------------------------------------- data


def generator_logprobs(row: Row) -> list[float] | None:
    """The generator's per-token log-probs of a rewritten row's target (incl. EOS), or None for an expert row.

    >>> generator_logprobs(Row("a", "q", "t", raw={"meta": {"generator": {"token_logprobs": [-0.1, -0.2]}}}))
    [-0.1, -0.2]
    >>> generator_logprobs(Row("b", "q", "t", raw={"meta": {"generator": None}})) is None
    True
    """
    meta = row.raw.get("meta")
    generator = meta.get("generator") if isinstance(meta, dict) else None
    logprobs = generator.get("token_logprobs") if isinstance(generator, dict) else None
    return [float(x) for x in logprobs] if isinstance(logprobs, list) and logprobs else None


def to_examples(
    rows: Iterable[Row], prompt_template: str = prompts.QA_TEMPLATE, *, behavior: bool = False
) -> list[dict[str, Any]]:
    """Rows as TRL prompt/completion examples; with ``behavior``, each carries its generator log-probs (or None).

    >>> to_examples([Row("a", "2+2", "4")])
    [{'prompt': 'Problem:\\n2+2\\n\\nAnswer:\\n', 'completion': '4'}]
    """
    out = []
    for row in rows:
        prompt = (
            row.question
            if row.schema == "prompt_completion"
            else prompts.render(prompt_template, row.question)
        )
        example: dict[str, Any] = {"prompt": prompt, "completion": row.answer}
        if behavior:
            example["behavior_logprobs"] = generator_logprobs(row)
        out.append(example)
    return out


def align_behavior(labels: Sequence[int], logprobs: Sequence[float] | None) -> list[float] | None:
    """Generator log-probs placed at the label (completion) positions of one tokenized row; 0 (p_β = 1) elsewhere.

    None when the row has no record or the record's length differs from the tokenized completion (then the row is
    trained as an expert row, p_β = 1).

    >>> align_behavior([-100, -100, 7, 8], [-0.5, -1.0])
    [0.0, 0.0, -0.5, -1.0]
    >>> align_behavior([-100, 7, 8], [-0.5]) is None
    True
    """
    if logprobs is None:
        return None
    positions = [i for i, label in enumerate(labels) if label != IGNORE]
    if len(positions) != len(logprobs):
        return None
    out = [0.0] * len(labels)
    for i, lp in zip(positions, logprobs, strict=True):
        out[i] = float(lp)
    return out


@dataclass
class BehaviorCollator:
    """TRL's language-modeling collator plus ``behavior_logprobs`` ``[B, T]``: each row's generator log-probs at its
    label positions, 0 elsewhere and for rows without a usable record (log p_β = 0 ⇔ p_β = 1)."""

    inner: DataCollatorForLanguageModeling

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self.inner([{k: ex[k] for k in ("input_ids", "labels") if k in ex} for ex in examples])
        labels = batch["labels"]  # [B, T]
        behavior = torch.zeros(labels.shape, dtype=torch.float32)  # [B, T]
        for b, ex in enumerate(examples):
            aligned = align_behavior(ex["labels"], ex.get("behavior_logprobs"))
            if aligned is not None:
                behavior[b, : len(aligned)] = torch.tensor(aligned)
        batch["behavior_logprobs"] = behavior
        return batch


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

    def __init__(self, *args: Any, is_clip: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.is_clip = is_clip

    def compute_loss(
        self,
        model: Any,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        behavior = inputs.pop("behavior_logprobs", None)  # [B, T]
        if self.is_clip is None or behavior is None:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        mode = "train" if self.model.training else "eval"
        # TRL's fused head: per-token log-probs of the next-token labels, without the [B, T, V] logits.
        outputs = model(**inputs, use_cache=False, fused_lm_head=True)
        logp = outputs.log_probs  # [B, T-1], position t scores labels[:, t+1]; 0 where the label is ignored
        mask = outputs.label_mask.to(logp.dtype)  # [B, T-1]
        weights = importance_weights(logp, behavior[:, 1:].to(logp), self.is_clip) * mask  # [B, T-1]
        num_tokens = mask.sum() if num_items_in_batch is None else num_items_in_batch
        loss = -(weights * logp).sum() / torch.as_tensor(num_tokens).clamp(min=1)

        valid = mask.sum().clamp(min=1)
        metrics = self._metrics[mode]
        metrics["entropy"].append((outputs.entropy.detach() * mask).sum().item() / valid.item())
        metrics["mean_token_accuracy"].append((outputs.is_top1 * mask).sum().item() / valid.item())
        metrics["is_weight_mean"].append(weights.detach().sum().item() / valid.item())
        metrics["is_clipped_frac"].append(((weights >= self.is_clip) * mask).sum().item() / valid.item())
        return (loss, outputs) if return_outputs else loss


# ---------------------------------------------------------------------------------------------------- hooks


class HooksCallback(TrainerCallback):
    """Runs :class:`TrainingHooks` inside a transformers Trainer and collects the per-step metrics."""

    def __init__(
        self,
        hooks: TrainingHooks | None,
        *,
        eval_every: int | None,
        adapter: bool,
        base_model: str,
        scratch: Path,
    ) -> None:
        self.hooks = hooks or TrainingHooks()
        self.eval_every = eval_every
        self.adapter = adapter
        self.base_model = base_model
        self.scratch = scratch
        self.metrics: list[dict[str, Any]] = []
        self.summary: dict[str, Any] = {}
        self.pending_eval: dict[str, float] = {}
        self.stopped = False

    def _evaluate(self, step: int, model: Any, tokenizer: Any) -> dict[str, float]:
        if self.hooks.on_eval is None:
            return {}
        self.scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.scratch) as folder:
            model.save_pretrained(folder)
            if tokenizer is not None:
                tokenizer.save_pretrained(folder)
            if not self.adapter:
                copy_model_settings(self.base_model, folder)
            was_training = model.training
            model.eval()
            try:
                return dict(self.hooks.on_eval(Snapshot(step, folder, self.adapter, self.base_model)))
            finally:
                model.train(was_training)

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        if self.eval_every and self.hooks.on_eval is not None:
            record = {"step": 0, **self._evaluate(0, kw["model"], kw.get("processing_class"))}
            self.metrics.append(record)
            if self.hooks.on_step:
                self.hooks.on_step(0, record)

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        if self.eval_every and state.global_step % self.eval_every == 0:
            self.pending_eval = self._evaluate(state.global_step, kw["model"], kw.get("processing_class"))
        if self.hooks.should_stop is not None and self.hooks.should_stop():
            self.stopped = True
            control.should_training_stop = True

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kw: Any,
    ) -> None:
        logs = dict(logs or {})
        if "train_runtime" in logs:  # the trainer's closing summary, not a step
            self.summary = logs
            return
        record = {"step": state.global_step, **logs, **self.pending_eval}
        self.pending_eval = {}
        self.metrics.append(record)
        if self.hooks.on_step:
            self.hooks.on_step(state.global_step, record)


# ---------------------------------------------------------------------------------------------------- entry point


def copy_model_settings(model_dir: str | Path, out_dir: str | Path) -> None:
    """Keep the base's ``rewriter.json`` (templates) beside a full fine-tuned model, so engines render the same."""
    source = Path(model_dir) / "rewriter.json"
    if source.exists():
        shutil.copyfile(source, Path(out_dir) / "rewriter.json")


def load_rows(data: str | Path | Sequence[Row]) -> list[Row]:
    if isinstance(data, str | Path):
        return read_rows(data)[1]
    return list(data)


# transformers 5.x renamed gradient checkpointing (the old name warns); TRL's configs default it on
CHECKPOINTING = (
    "activation_checkpointing"
    if "activation_checkpointing" in TrainingArguments.__dataclass_fields__
    else "gradient_checkpointing"
)


def device_arguments() -> dict[str, Any]:
    """TrainingArguments every trainer here needs: CPU when there is no GPU, fp32 (bf16 defaults on even on a
    CPU), no gradient checkpointing (25%-2x slower on the toy), a log line per step, no checkpoints, no trackers."""
    cpu = not torch.cuda.is_available()
    return {
        "use_cpu": cpu,
        "bf16": False,
        "fp16": False,
        CHECKPOINTING: False,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": [],
        "disable_tqdm": True,
        "dataloader_pin_memory": not cpu,
    }


def train_sft(
    data: str | Path | Sequence[Row],
    model_dir: str | Path,
    out_dir: str | Path,
    spec: SFTSpec | None = None,
    callbacks: TrainingHooks | None = None,
) -> SFTResult:
    """Fine-tune the model at ``model_dir`` (or ``"toy"``) on ``data`` (a JSONL path in any of our schemas, a
    rewrite output included, or parsed rows) with TRL's SFTTrainer; write the model or adapter, the tokenizer and
    ``training.json`` to ``out_dir``."""
    spec = spec or SFTSpec()
    model_path = str(resolve_model(model_dir))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = load_rows(data)
    if not rows:
        raise ValueError("the training data has no rows")
    weighted = spec.loss == "is"
    dataset = Dataset.from_list(to_examples(rows, spec.prompt_template, behavior=weighted))

    tokenizer: PreTrainedTokenizerBase = AutoTokenizer.from_pretrained(model_path)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    peft_config = (
        LoraConfig(
            r=spec.lora_r,
            lora_alpha=spec.lora_alpha,
            lora_dropout=0.0,
            target_modules="all-linear",  # PEFT leaves the output layer (lm_head) out of "all-linear"
            task_type="CAUSAL_LM",
        )
        if spec.lora
        else None
    )
    config = SFTConfig(
        output_dir=str(out),
        max_steps=spec.steps,
        per_device_train_batch_size=spec.batch_size,
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
        processing_class=tokenizer,
        data_collator=collator if weighted else None,
        peft_config=peft_config,
        callbacks=[hooks, *(callbacks.extra if callbacks else ())],
        is_clip=spec.is_clip if weighted else None,
    )
    trainer.remove_callback(PrinterCallback)  # per-step metrics go to hooks and training.json, not stdout
    behavior = count_behavior(trainer.train_dataset) if weighted else {}

    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start

    # The adapter for LoRA, the full model for full fine-tuning; plus the tokenizer.
    trainer.save_model(str(out))
    if not spec.lora:
        copy_model_settings(model_path, out)
    shutil.rmtree(out / ".snapshots", ignore_errors=True)
    result = SFTResult(str(out), hooks.metrics, seconds, hooks.stopped, len(rows), behavior)
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


def count_behavior(dataset: Dataset) -> dict[str, int]:
    """How many tokenized rows carry usable generator log-probs, none (expert rows), or a mismatched record."""
    counts = {"recorded": 0, "expert": 0, "mismatched": 0}
    for labels, logprobs in zip(dataset["labels"], dataset["behavior_logprobs"], strict=True):
        if logprobs is None:
            counts["expert"] += 1
        elif align_behavior(labels, logprobs) is None:
            counts["mismatched"] += 1
        else:
            counts["recorded"] += 1
    return counts


def write_training_json(out: Path, **content: Any) -> None:
    def clean(value: Any) -> Any:  # NaN/inf are not JSON
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    (out / "training.json").write_text(json.dumps(clean(content), indent=2))
