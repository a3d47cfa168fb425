"""A fine-tuning job's child process: ``python -m training.jobs <job_id>`` (the workers name it, never import it).

What runs: the training file (and a GRPO job's ``warm_start_file``) is copied once to ``<data_dir>/work/<job_id>/``;
``train_sft`` (method ``supervised``) or ``train_grpo`` (method ``grpo``) trains on it from the job's model into
``<data_dir>/work/<job_id>/model``, each logged step becoming a ``metrics`` event and the job's progress, the
store's cancel flag stopping it between steps. On success the model (or LoRA adapter) directory is copied into
storage and registered as ``ft:<base>:<team>:<job suffix>`` with its lineage (job, training file, parent model);
``training.json`` (spec + per-step metrics) becomes the job's result file. A rerun starts the training over.
"""

from __future__ import annotations

import math
import shutil
import sys
from typing import Any

from rewriter.errors import RewriterError
from rewriter.ids import Prefix, now
from rewriter.jobs.fine_tune import FineTuneJobSpec
from rewriter.service import files
from rewriter.service.artifacts import Artifacts
from rewriter.service.models import Registry
from rewriter.service.store import Store
from rewriter.settings import get_settings

RESULT_PURPOSE = "fine-tune-results"


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


def main(job_id: str) -> int:
    settings = get_settings()
    store = Store.from_url(settings.redis_url)
    artifacts = Artifacts(settings.artifacts_url)
    registry = Registry(store, artifacts, settings.base_models)
    job = store.get_job(job_id, team=None)
    spec = FineTuneJobSpec.model_validate(job.spec)
    work = settings.data_dir / "work" / job_id
    data = work / "train.jsonl"
    files.fetch(store, artifacts, job.team, spec.training_file, data)
    parent = registry.get(job.team, spec.model)
    model_dir = registry.local_dir(parent, settings.data_dir / "models")
    out = work / "model"
    shutil.rmtree(out, ignore_errors=True)  # a rerun trains from the start

    from training.sft import SFTSpec, TrainingHooks, train_sft  # heavy: torch, transformers, TRL

    total = int((spec.sft or spec.grpo or {})["steps"])
    last: dict[str, float] = {}

    def on_step(step: int, metrics: dict[str, Any]) -> None:
        values = numeric(metrics)
        last.update(values, step=float(step))
        loss = values.get("train_loss")
        text = f"Step {step}/{total}" + (f": training loss={loss:.4f}" if loss is not None else "")
        store.add_event(job_id, text, type="metrics", data={"step": step, "total_steps": total, **values})
        store.set_progress(job_id, {"step": step, "steps": total})

    hooks = TrainingHooks(on_step=on_step, should_stop=lambda: store.cancel_requested(job_id))
    store.add_event(job_id, f"Training {spec.method} on {spec.model} for {total} steps.")
    if spec.method == "supervised":
        assert spec.sft is not None
        sft = train_sft(data, model_dir, out, SFTSpec(**spec.sft), hooks)
        stopped, kind = sft.stopped, "adapter" if spec.sft.get("lora") else "model"
        metrics = sft.metrics
    else:
        from training.grpo import GRPOSpec, train_grpo

        assert spec.grpo is not None
        grpo_args = dict(spec.grpo)
        if (warm_file := grpo_args.pop("warm_start_file", None)) is not None:
            files.fetch(store, artifacts, job.team, warm_file, work / "warm_start.jsonl")
            grpo_args["warm_start"] = str(work / "warm_start.jsonl")
        grpo = train_grpo(data, model_dir, out, GRPOSpec(**grpo_args), hooks)
        stopped, kind, metrics = grpo.stopped, "adapter", grpo.metrics
    if stopped or store.cancel_requested(job_id):
        store.add_event(job_id, "Training stopped: the job was cancelled.")
        return 0  # the supervisor records `cancelled`

    model = registry.register(
        job.team,
        job_id,
        out,
        kind="adapter" if kind == "adapter" else "model",
        parent=parent,
        training_file=spec.training_file,
        method=spec.method,
        suffix=spec.suffix,
    )
    results = files.publish(
        store,
        artifacts,
        job.team,
        out / "training.json",
        f"outputs/{job.team}/{job_id}/training.json",
        filename=f"{job_id}-training.json",
        purpose=RESULT_PURPOSE,
        schema="report",
        rows=0,
    )
    step = int(last.get("step", total))
    checkpoint = {
        "id": f"{Prefix.FINE_TUNE_CHECKPOINT.value}-{job_id.split('-', 1)[1]}",
        "object": "fine_tuning.job.checkpoint",
        "created_at": now(),
        "fine_tuned_model_checkpoint": model.id,
        "fine_tuning_job_id": job_id,
        "metrics": {
            k: v for k, v in last.items() if k in {"step", "train_loss", "mean_token_accuracy", "reward"}
        },
        "step_number": step,
    }
    tokens = max(
        (m.get("num_tokens", 0) for m in metrics if isinstance(m.get("num_tokens"), int | float)), default=0
    )
    store.set_result(
        job_id,
        {
            "fine_tuned_model": model.id,
            "result_files": [results.id],
            "trained_tokens": int(tokens) or None,
            "checkpoints": [checkpoint],
        },
    )
    store.add_event(job_id, f"New fine-tuned model created: {model.id}")
    store.add_event(job_id, "The job has successfully completed.")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1]))
    except (RewriterError, ValueError, FileNotFoundError) as exc:  # the reason alone becomes the job's error
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(2)
