"""Rewrite jobs: what a user sends (``RewriteJobRequest``), what the job is recorded with (``RewriteJobSpec`` — ids
and settings, never rows) and the checks made before anything is recorded."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rewriter.errors import InvalidRequest
from rewriter.records import Schema
from rewriter.specs import Seed, StrategyName, StrategySpec, VerifierOptions
from rewriter.verifiers import VERIFIERS

DATASET_SCHEMAS = ("qa", "prompt_completion", "messages")
# The verifier names, stated in the OpenAPI document (``check_verifier`` is what refuses an unknown one).
VERIFIER_ENUM: dict[str, Any] = {"enum": list(VERIFIERS)}
MAX_ROWS = 2**31 - 1  # row counts and indices stay within a signed 32-bit integer
# StrategySpec fields that have a place of their own in the request (not inside `settings`).
_OWN_FIELDS = {"strategy", "verifier", "verifier_options", "seed", "adapter"}
_SAMPLING_FIELDS = ("k", "temperature", "guided_temperature", "top_p", "max_new_tokens")


class Sampling(BaseModel):
    """Sampling of the candidates; unset fields take the strategy's defaults (K=4, T1=1.0, T2=0.7)."""

    # The bounds are StrategySpec's, stated here too so that the OpenAPI document shows them.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    k: int | None = Field(None, ge=1, le=64, description="candidates per row (per stage)")
    temperature: float | None = Field(None, ge=0.0, le=2.0, description="T1: the first stage's temperature")
    guided_temperature: float | None = Field(
        None, ge=0.0, le=2.0, description="T2: guided_resolve's second stage"
    )
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    max_new_tokens: int | None = Field(None, ge=1, le=8192)


class RewriteJobRequest(BaseModel):
    """``POST /v1/rewrite_jobs``."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    input_file_id: str
    strategy: StrategyName = "guided_resolve"
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="Other StrategySpec fields: selection, fallback, templates, banned_phrases, lambda_dist, "
        "lambda_div.",
    )
    model: str | None = Field(None, description="The backbone π0 (a model id); default: the service's.")
    adapter: str | None = Field(
        None,
        description="policy, auto: the model id of a trained rewriting adapter (auto runs its policy stage only with one).",
    )
    verifier: str = Field(
        "math",
        description="The gate: math, numeric, exact, choice, regex, toy-number, ...",
        json_schema_extra=VERIFIER_ENUM,
    )
    verifier_options: VerifierOptions = Field(
        default_factory=dict,
        description="The verifier's options: numeric tolerance (>= 0), math timeout (> 0 s).",
    )
    sampling: Sampling = Field(default_factory=Sampling)
    seed: Seed = 0
    preview: int | None = Field(None, ge=1, le=MAX_ROWS, description="Rewrite only the first N rows.")
    output_schema: Schema | None = Field(None, description="Default: the input file's schema.")
    metadata: dict[str, str] | None = None


class RewriteJobSpec(BaseModel):
    """What a rewrite job is recorded with. ``strategy.adapter`` holds the adapter's model id; the worker swaps in
    its directory. ``shard_rows`` is fixed at creation so a resumed run shards the same way."""

    input_file_id: str
    model: str
    adapter: str | None = None
    strategy: StrategySpec
    preview: int | None = None
    output_schema: Schema | None = None
    shard_rows: int
    engine: str = "hf"
    metadata: dict[str, str] | None = None


def strategy_spec(request: RewriteJobRequest) -> StrategySpec:
    """The request's strategy, sampling, gate and seed as one validated StrategySpec; InvalidRequest names the
    offending request field (``sampling.temperature``, ``settings.fallback``)."""
    from pydantic import ValidationError

    origin: dict[str, str] = {}
    values: dict[str, Any] = {}
    for key, value in request.settings.items():
        if key in _OWN_FIELDS or key in _SAMPLING_FIELDS:
            where = f"sampling.{key}" if key in _SAMPLING_FIELDS else key
            raise InvalidRequest(f"settings.{key}: give it as {where} instead.", param=f"settings.{key}")
        values[key], origin[key] = value, f"settings.{key}"
    for key in _SAMPLING_FIELDS:
        value = getattr(request.sampling, key)
        if value is not None:
            values[key], origin[key] = value, f"sampling.{key}"
    own = {
        "strategy": request.strategy,
        "verifier": request.verifier,
        "verifier_options": request.verifier_options,
        "seed": request.seed,
        "adapter": request.adapter,
    }
    values.update(own)
    origin.update({key: key for key in own})
    try:
        return StrategySpec.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(part) for part in first["loc"]]
        param = origin.get(loc[0], f"settings.{loc[0]}") if loc else "strategy"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise InvalidRequest(f"Invalid value for {param}: {message}", param=param) from None


def check_verifier(name: str, options: dict[str, Any], param: str = "verifier") -> None:
    """Refuse an unknown verifier or options it cannot take, before anything is recorded."""
    from rewriter.verifiers import get_verifier

    try:
        get_verifier(name, **options)
    except ValueError as exc:
        raise InvalidRequest(str(exc), param=param) from None
