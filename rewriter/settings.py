"""Settings: one pydantic-settings object, env prefix ``REWRITER_``, read only at entry points.

Nested groups use ``__``: ``REWRITER_API__MAX_UPLOAD_BYTES=1000000``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseModel):
    max_upload_bytes: int = Field(2 * 1024**3, gt=0, description="Uploads larger than this answer 413.")
    max_listed_problems: int = Field(20, gt=0, description="How many line problems an upload error lists.")
    workers: int = Field(
        default_factory=lambda: _cpus(),
        gt=0,
        description="uvicorn worker processes of the API (`rewriter serve`, deploy/); default: the CPUs usable.",
    )
    key_cache_seconds: float = Field(
        5.0,
        ge=0,
        allow_inf_nan=False,
        description="How long an API process remembers an API key's team (a deleted key works this much longer).",
    )
    access_log: bool = Field(
        False,
        description="uvicorn's access log, a line per request (`rewriter serve`, deploy/). Off: at a few hundred "
        "GETs/s the line costs about a tenth of a request's CPU; count requests with /metrics instead.",
    )


def _cpus() -> int:
    """The CPUs this process may run on (its affinity mask, where the OS has one; else the CPU count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


class WorkerSettings(BaseModel):
    heartbeat_seconds: float = Field(2.0, gt=0)
    # A job whose heartbeat is older than this is presumed dead and re-queued by the sweep.
    stale_after_seconds: float = Field(30.0, gt=0)
    shard_rows: int = Field(64, gt=0, description="Rows per rewrite shard (one batched engine pass each).")
    # A cancelled rewrite finishes its current shard and keeps the output so far; a shard of 64 rows takes
    # ~10-20 s of guided_resolve on the toy (2 cores), so 120 s leaves room for a loaded machine or a larger model.
    cancel_grace_seconds: float = Field(
        120.0, gt=0, description="How long a cancelled rewrite may take to stop by itself before SIGTERM."
    )
    # A job whose child dies by a signal (the OOM killer's SIGKILL) or crashes is re-queued until this many attempts
    # were made; a child's own "this cannot run" exit (2: bad spec or input) fails at once.
    max_attempts: int = Field(
        3, ge=1, le=100, description="Attempts a job gets when its process dies or crashes."
    )
    retry_backoff_seconds: float = Field(
        10.0, ge=0, description="Wait before the 2nd attempt; doubled for each further one (at most 600 s)."
    )
    # Data-parallel fine-tuning (docs/operations.md): a job's `hyperparameters.n_processes` may not exceed this.
    # One process per GPU on GPU workers; on CPU workers each process takes one core.
    max_train_processes: int = Field(
        1,
        ge=1,
        le=1024,
        description="The most processes one fine-tuning job may train with (set it to the GPUs of a worker).",
    )
    accelerate_config: str | None = Field(
        None,
        description="An accelerate config file for multi-process fine-tuning (e.g. deploy/accelerate/fsdp.yaml); "
        "default: plain DDP (gloo on CPUs, NCCL on GPUs).",
    )
    # Fairness between teams (docs/operations.md): a team's jobs beyond this many running wait, queued, while other
    # teams' jobs run; a finished run wakes the team's oldest waiting job. 0: no limit.
    team_max_running_jobs: int = Field(
        0, ge=0, description="Jobs of one team that may run at once (0: no limit); the rest wait queued."
    )
    # Shard-parallel rewrites (docs/operations.md, "Shards"): a rewrite job also puts this many shard tasks on its
    # queue; each lets one more worker rewrite the job's shards at once (one model load per task).
    shard_helpers: int = Field(
        3,
        ge=0,
        description="Extra shard tasks per rewrite job: up to this many more workers share its shards.",
    )
    shard_lease_seconds: float = Field(
        30.0, gt=0, description="A shard claim lapses this long after its process stopped renewing it (died)."
    )
    shard_turn_seconds: float = Field(
        300.0,
        gt=0,
        description="A shard task stops claiming after this long and goes back to the queue's tail if shards "
        "remain, so the shards of jobs on one queue interleave.",
    )


class RedisSettings(BaseModel):
    """How the processes talk to Redis, and how long they wait for it to come back (docs/operations.md)."""

    connect_timeout_seconds: float = Field(
        2.0, gt=0, description="Give up one connection attempt after this."
    )
    socket_timeout_seconds: float = Field(10.0, gt=0, description="Give up waiting for one reply after this.")
    patience_seconds: float = Field(
        60.0,
        ge=0,
        description="How long workers and job processes retry a Redis call (with backoff) before they fail.",
    )
    api_patience_seconds: float = Field(
        2.0, ge=0, description="How long the API retries a Redis call before it answers 503."
    )
    backoff_cap_seconds: float = Field(1.0, gt=0, description="The longest wait between two tries.")


class HarnessSettings(BaseModel):
    """lm-evaluation-harness tasks of eval runs (docs/evaluation.md): their configs come only from this directory,
    never from a hub."""

    tasks_dir: Path | None = Field(
        None,
        description="Directory of lm-eval task YAMLs (local `dataset_path: json` data); default: <data_dir>/harness_tasks.",
    )
    batch_size: int = Field(32, gt=0, description="Prompts per batch in lm-eval's HF model class.")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REWRITER_", env_nested_delimiter="__", extra="ignore")

    data_dir: Path = Path("./var")
    default_model: str = "toy"
    base_models: dict[str, Path] = Field(
        default_factory=dict,
        description='Model directories offered as base models, id -> path (REWRITER_BASE_MODELS=\'{"m": "/p"}\').',
    )
    engine: Literal["hf", "vllm"] = "hf"
    device: str = "auto"
    redis_url: str = "redis://127.0.0.1:6379/0"
    storage_url: str | None = Field(
        None, description="fsspec URL for artifacts (s3://bucket/prefix); default: <data_dir>/artifacts."
    )
    api: ApiSettings = ApiSettings()
    worker: WorkerSettings = WorkerSettings()
    redis: RedisSettings = RedisSettings()
    harness: HarnessSettings = HarnessSettings()

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if value not in {"auto", "cpu"} and not value.startswith("cuda"):
            raise ValueError("device must be 'auto', 'cpu' or 'cuda[:N]' (set REWRITER_DEVICE)")
        return value

    @field_validator("base_models")
    @classmethod
    def _base_models(cls, value: dict[str, Path]) -> dict[str, Path]:
        for name, path in value.items():
            if name == "toy" or name.startswith("ft:") or not name or "/" in name:
                raise ValueError(f"base model id {name!r} is reserved or malformed (REWRITER_BASE_MODELS)")
            if not (path / "config.json").exists():
                raise ValueError(f"base model {name!r}: {path} has no config.json (REWRITER_BASE_MODELS)")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("redis_url must look like redis://host:port/db (set REWRITER_REDIS_URL)")
        return value

    @property
    def harness_tasks_dir(self) -> Path:
        return self.harness.tasks_dir or self.data_dir / "harness_tasks"

    @property
    def artifacts_url(self) -> str:
        return self.storage_url or str((self.data_dir / "artifacts").resolve())


@lru_cache
def get_settings() -> Settings:
    return Settings()
