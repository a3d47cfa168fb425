"""A fine-tuning job: ``python -m training.jobs <job_id>`` runs :func:`run` with the trainer ``training`` hands in.

What runs: the training file (and a GRPO job's ``warm_start_file``, a supervised job's ``validation_file``) is
copied once to ``<data_dir>/work/<job_id>/``; the trainer trains on it with the job's method (``supervised``: SFT,
``grpo``: GRPO) from the job's model into ``<data_dir>/work/<job_id>/model``, each logged step becoming a ``metrics``
event and the job's progress, the store's cancel flag stopping it between steps. With a validation file the trainer
also logs the loss on it every few steps and at the last: a ``metrics`` event with ``valid_loss`` (OpenAI's name). On success the model (or LoRA adapter) directory is copied into
storage and registered as ``ft:<base>:<team>:<job suffix>`` with its lineage (job, training file, parent model);
``training.json`` (spec + per-step metrics) becomes the job's result file. A rerun starts the training over.
With ``n_processes`` > 1 (at most the worker's ``max_train_processes``) the trainer runs under ``accelerate launch``
(``training.distributed``): N data-parallel processes, rank 0 reporting the steps and writing the model.

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
        accelerate_config: str | None = None,
        validation: Path | None = None,
    ) -> Trained:
        """Train with ``method``'s spec ``args`` on ``data`` from ``model_dir`` into ``out``; a spec with
        ``n_processes`` > 1 trains under ``accelerate launch`` (with ``accelerate_config``, if given); with
        ``validation``, log the loss on that file too (``valid_loss``)."""
        ...


# The trainer's names → OpenAI's (a validation step's metrics are the trainer's ``eval_*``).
OPENAI_NAMES = {
    "loss": "train_loss",
    "eval_loss": "valid_loss",
    "eval_mean_token_accuracy": "valid_mean_token_accuracy",
}
# Timings of a validation pass: not metrics of the model.
_DROPPED = {"eval_runtime", "eval_samples_per_second", "eval_steps_per_second"}


def numeric(metrics: dict[str, Any]) -> dict[str, float]:
    """The finite numbers among a step's metrics, named as OpenAI names them (``loss`` → ``train_loss``,
    ``eval_loss`` → ``valid_loss``).

    >>> numeric({"loss": 1.5, "epoch": 0.1, "note": "x", "kl": float("nan")})
    {'train_loss': 1.5, 'epoch': 0.1}
    >>> numeric({"eval_loss": 0.75, "eval_runtime": 0.2, "eval_mean_token_accuracy": 0.5})
    {'valid_loss': 0.75, 'valid_mean_token_accuracy': 0.5}
    """
    out = {}
    for key, value in metrics.items():
        if key in _DROPPED:
            continue
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            out[OPENAI_NAMES.get(key, key)] = float(value)
    return out


def run(ctx: JobContext[FineTuneJobSpec], *, train: Trainer) -> int:
    spec = ctx.spec
    data = ctx.work / "train.jsonl"
    ctx.fetch(spec.training_file, data)
    validation = None
    if spec.validation_file is not None:
        validation = ctx.work / "valid.jsonl"
        ctx.fetch(spec.validation_file, validation)
    parent = ctx.registry.get(ctx.team, spec.model)
    model_dir = ctx.registry.local_dir(parent, ctx.cache)
    out = ctx.work / "model"
    shutil.rmtree(out, ignore_errors=True)  # a rerun trains from the start

    args = dict(spec.sft or spec.grpo or {})
    total = int(args["steps"])
    processes = int(args.get("n_processes", 1))
    cap = ctx.settings.worker.max_train_processes
    if processes > cap:  # the API checked its own setting; this worker may be configured lower
        raise ValueError(
            f"n_processes {processes} is above this worker's REWRITER_WORKER__MAX_TRAIN_PROCESSES ({cap})"
        )
    last: dict[str, float] = {}

    def on_step(step: int, metrics: dict[str, Any]) -> None:
        values = numeric(metrics)
        last.update(values, step=float(step))
        loss, valid = values.get("train_loss"), values.get("valid_loss")
        text = f"Step {step}/{total}" + (f": training loss={loss:.4f}" if loss is not None else "")
        if valid is not None:
            text += f"{',' if loss is not None else ':'} validation loss={valid:.4f}"
        ctx.event(text, type="metrics", data={"step": step, "total_steps": total, **values})
        ctx.progress(FineTuneProgress(step=step, steps=total))

    ctx.event(
        f"Training {spec.method} on {spec.model} for {total} steps"
        + (f" in {processes} data-parallel processes." if processes > 1 else ".")
    )
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
    trained = train(
        spec.method,
        data,
        model_dir,
        out,
        args,
        on_step=on_step,
        should_stop=ctx.cancelled,
        accelerate_config=ctx.settings.worker.accelerate_config,
        validation=validation,
    )
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
            k: v
            for k, v in last.items()
            if k
            in {
                "step",
                "train_loss",
                "mean_token_accuracy",
                "reward",
                "valid_loss",
                "valid_mean_token_accuracy",
            }
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
