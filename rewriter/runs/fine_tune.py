"""A fine-tuning job: ``python -m training.jobs <job_id>`` runs :func:`run` with the trainer ``training`` hands in.

What runs: the training file (and a GRPO job's ``warm_start_file``) is copied once to ``<data_dir>/work/<job_id>/``;
the trainer trains on it with the job's method (``supervised``: SFT, ``grpo``: GRPO) from the job's model into
``<data_dir>/work/<job_id>/model``, each logged step becoming a ``metrics`` event and the job's progress, the
store's cancel flag stopping it between steps. On success the model (or LoRA adapter) directory is copied into
storage and registered as ``ft:<base>:<team>:<job suffix>`` with its lineage (job, training file, parent model);
``training.json`` (spec + per-step metrics) becomes the job's result file. A rerun starts the training over.

The library never imports ``training`` (torch, transformers, TRL): the trainer is a parameter.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Protocol

from rewriter.ids import Prefix, now
from rewriter.jobs.fine_tune import FineTuneJobSpec
from rewriter.results import Checkpoint, FineTuneProgress, FineTuneResult
from rewriter.runs.context import JobContext

RESULT_PURPOSE = "fine-tune-results"


class Trained(Protocol):
    """What a training run returns (``SFTResult``, ``GRPOResult``)."""

    stopped: bool
    metrics: list[dict[str, Any]]


class Trainer(Protocol):
    def __call__(
        self,
        method: str,
        data: Path,
        model_dir: Path,
        out: Path,
        args: dict[str, Any],
        *,
        on_step: Callable[[int, dict[str, Any]], None],
        should_stop: Callable[[], bool],
    ) -> Trained:
        """Train with ``method``'s spec ``args`` on ``data`` from ``model_dir`` into ``out``."""
        ...


def numeric(metrics: dict[str, Any]) -> dict[str, float]:
    """The finite numbers among a step's metrics (``loss`` → ``train_loss``, as OpenAI names it).

    >>> numeric({"loss": 1.5, "epoch": 0.1, "note": "x", "kl": float("nan")})
    {'train_loss': 1.5, 'epoch': 0.1}
    """
    out = {}
    for key, value in metrics.items():
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            out["train_loss" if key == "loss" else key] = float(value)
    return out


def run(ctx: JobContext[FineTuneJobSpec], *, train: Trainer) -> int:
    spec = ctx.spec
    data = ctx.work / "train.jsonl"
    ctx.fetch(spec.training_file, data)
    parent = ctx.registry.get(ctx.team, spec.model)
    model_dir = ctx.registry.local_dir(parent, ctx.cache)
    out = ctx.work / "model"
    shutil.rmtree(out, ignore_errors=True)  # a rerun trains from the start

    args = dict(spec.sft or spec.grpo or {})
    total = int(args["steps"])
    last: dict[str, float] = {}

    def on_step(step: int, metrics: dict[str, Any]) -> None:
        values = numeric(metrics)
        last.update(values, step=float(step))
        loss = values.get("train_loss")
        text = f"Step {step}/{total}" + (f": training loss={loss:.4f}" if loss is not None else "")
        ctx.event(text, type="metrics", data={"step": step, "total_steps": total, **values})
        ctx.progress(FineTuneProgress(step=step, steps=total))

    ctx.event(f"Training {spec.method} on {spec.model} for {total} steps.")
    kind: Literal["model", "adapter"]
    if spec.method == "supervised":
        kind = "adapter" if args.get("lora") else "model"
        if (replay_file := args.get("replay_file")) is not None:
            ctx.fetch(replay_file, ctx.work / "replay.jsonl")
            args["replay_file"] = str(ctx.work / "replay.jsonl")
    else:
        kind = "adapter"  # GRPO trains a LoRA adapter
        if (warm_file := args.pop("warm_start_file", None)) is not None:
            ctx.fetch(warm_file, ctx.work / "warm_start.jsonl")
            args["warm_start"] = str(ctx.work / "warm_start.jsonl")
    trained = train(spec.method, data, model_dir, out, args, on_step=on_step, should_stop=ctx.cancelled)
    if trained.stopped or ctx.cancelled():
        ctx.event("Training stopped: the job was cancelled.")
        return 0  # the supervisor records `cancelled`

    model = ctx.registry.register(
        ctx.team,
        ctx.id,
        out,
        kind=kind,
        parent=parent,
        training_file=spec.training_file,
        method=spec.method,
        suffix=spec.suffix,
    )
    results = ctx.publish(out / "training.json", purpose=RESULT_PURPOSE, schema="report", rows=0)
    checkpoint = Checkpoint(
        id=f"{Prefix.FINE_TUNE_CHECKPOINT.value}-{ctx.id.split('-', 1)[1]}",
        created_at=now(),
        fine_tuned_model_checkpoint=model.id,
        fine_tuning_job_id=ctx.id,
        metrics={
            k: v for k, v in last.items() if k in {"step", "train_loss", "mean_token_accuracy", "reward"}
        },
        step_number=int(last.get("step", total)),
    )
    tokens = max(
        (m.get("num_tokens", 0) for m in trained.metrics if isinstance(m.get("num_tokens"), int | float)),
        default=0,
    )
    ctx.result(
        FineTuneResult(
            fine_tuned_model=model.id,
            result_files=[results.id],
            trained_tokens=int(tokens) or None,
            checkpoints=[checkpoint],
        )
    )
    ctx.event(f"New fine-tuned model created: {model.id}")
    ctx.event("The job has successfully completed.")
    return 0
