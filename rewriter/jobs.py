"""Jobs: the kinds there are, the statuses each moves through, the task names that run them, and the typed specs
each is recorded with.

- ``JOB_KINDS``: kind → lifecycle (statuses in OpenAI's words for that kind) and id prefix.
- ``RUN_JOB`` / ``SWEEP``: Celery task names. The API enqueues by name (``RunJob(job_id).args``) and never imports
  the workers; the workers register these names.
- ``RewriteJobSpec``, ``FineTuneJobSpec``, ``EvalRunSpec``: what a job is recorded with — ids and settings, never
  rows. Their ``*Request`` counterparts are what a user sends.
- ``JobService``: what the routes call — create (validate → record → enqueue), get, list, cancel, events.

The store imports the lifecycles from here, so the store and the model registry are imported for typing only.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rewriter.errors import InvalidRequest, NotFound
from rewriter.ids import Prefix
from rewriter.records import Schema
from rewriter.specs import StrategyName, StrategySpec

if TYPE_CHECKING:
    from rewriter.service.models import Registry
    from rewriter.service.store import Event, FileRecord, JobRecord, Order, Page, Store

# ---- lifecycles ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lifecycle:
    """The statuses a job kind moves through, in OpenAI's words for that kind of job."""

    initial: str  # set at creation, while the inputs are checked
    running: str  # a supervisor owns the job from here
    done: str
    statuses: tuple[str, ...]
    active: frozenset[str]  # statuses in which a supervisor heartbeats the job
    cancelling: str | None = None  # kinds without it stay `running` until the child is stopped
    queued: str = "queued"
    failed: str = "failed"
    cancelled: str = "cancelled"

    @property
    def terminal(self) -> frozenset[str]:
        return frozenset({self.done, self.failed, self.cancelled})

    @property
    def pending(self) -> frozenset[str]:
        return frozenset({self.initial, self.queued})


REWRITE_LIFECYCLE = Lifecycle(
    initial="validating",
    running="in_progress",
    done="completed",
    statuses=(
        "validating",
        "queued",
        "in_progress",
        "finalizing",
        "completed",
        "failed",
        "cancelling",
        "cancelled",
    ),
    active=frozenset({"in_progress", "finalizing", "cancelling"}),
    cancelling="cancelling",
)
TRAINING_LIFECYCLE = Lifecycle(
    initial="validating_files",
    running="running",
    done="succeeded",
    statuses=("validating_files", "queued", "running", "succeeded", "failed", "cancelled"),
    active=frozenset({"running"}),
)
# kind → (lifecycle, id prefix). A new kind adds a line here and its child module in workers/tasks.py.
JOB_KINDS: dict[str, tuple[Lifecycle, Prefix]] = {
    "rewrite": (REWRITE_LIFECYCLE, Prefix.REWRITE_JOB),
    "fine_tune": (TRAINING_LIFECYCLE, Prefix.FINE_TUNE_JOB),
    "eval": (TRAINING_LIFECYCLE, Prefix.EVAL),
    "selftest": (REWRITE_LIFECYCLE, Prefix.JOB),  # exercises the supervisor with a trivial child
}
# The public id prefix of each kind's events (the event cursor is the Redis stream id behind it).
EVENT_PREFIX: dict[str, Prefix] = {
    "rewrite": Prefix.REWRITE_EVENT,
    "fine_tune": Prefix.FINE_TUNE_EVENT,
    "eval": Prefix.EVAL_EVENT,
    "selftest": Prefix.REWRITE_EVENT,
}


def lifecycle(kind: str) -> Lifecycle:
    try:
        return JOB_KINDS[kind][0]
    except KeyError:
        raise InvalidRequest(f"unknown job kind {kind!r}; known: {sorted(JOB_KINDS)}", param="kind") from None


# ---- tasks --------------------------------------------------------------------------------------------------

QUEUES = ("cpu", "gpu")
RUN_JOB = "rewriter.run_job"
SWEEP = "rewriter.sweep"


@dataclass(frozen=True)
class RunJob:
    """The payload of ``RUN_JOB``: one job id. The task re-reads everything else from the store."""

    job_id: str

    @property
    def args(self) -> list[str]:
        return [self.job_id]


def queue_for(engine: str) -> str:
    """vLLM needs a GPU worker; everything else runs on the CPU queue.

    >>> queue_for("vllm"), queue_for("hf")
    ('gpu', 'cpu')
    """
    return "gpu" if engine == "vllm" else "cpu"


# ---- rewrite jobs -------------------------------------------------------------------------------------------

DATASET_SCHEMAS = ("qa", "prompt_completion", "messages")
# StrategySpec fields that have a place of their own in the request (not inside `settings`).
_OWN_FIELDS = {"strategy", "verifier", "verifier_options", "seed", "adapter"}
_SAMPLING_FIELDS = ("k", "temperature", "guided_temperature", "top_p", "max_new_tokens")


class Sampling(BaseModel):
    """Sampling of the candidates; unset fields take the strategy's defaults (K=4, T1=1.0, T2=0.7)."""

    model_config = ConfigDict(extra="forbid")

    k: int | None = Field(None, description="candidates per row (per stage)")
    temperature: float | None = Field(None, description="T1: the first stage's temperature")
    guided_temperature: float | None = Field(None, description="T2: guided_resolve's second stage")
    top_p: float | None = None
    max_new_tokens: int | None = None


class RewriteJobRequest(BaseModel):
    """``POST /v1/rewrite_jobs``."""

    model_config = ConfigDict(extra="forbid")

    input_file_id: str
    strategy: StrategyName = "guided_resolve"
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="Other StrategySpec fields: selection, fallback, templates, banned_phrases, lambda_dist, "
        "lambda_div.",
    )
    model: str | None = Field(None, description="The backbone π0 (a model id); default: the service's.")
    adapter: str | None = Field(None, description="policy: the model id of a trained rewriting adapter.")
    verifier: str = Field(
        "math", description="The gate: math, numeric, exact, choice, regex, toy-number, ..."
    )
    verifier_options: dict[str, str | float] = Field(default_factory=dict)
    sampling: Sampling = Field(default_factory=Sampling)
    seed: int = 0
    preview: int | None = Field(None, ge=1, description="Rewrite only the first N rows.")
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


# ---- fine-tuning jobs ---------------------------------------------------------------------------------------

# The learning rate `learning_rate_multiplier` scales: the toy recipe's (full fine-tune, AdamW, DESIGN §4.1).
SFT_BASE_LEARNING_RATE = 1e-4
GRPO_BASE_LEARNING_RATE = 1e-3  # LoRA; GRPO's own default 1e-6 does not move the toy at all (DESIGN §3.1.1)
DEFAULT_BATCH_SIZE = 32
GRPO_PROMPTS, GRPO_GENERATIONS = 4, 4  # the trainer's defaults: 16 completions per step
DEFAULT_STEPS = 100


class SupervisedHyperparameters(BaseModel):
    """OpenAI's supervised hyperparameters, plus ``steps`` and ``learning_rate`` (ours) to set them exactly."""

    model_config = ConfigDict(extra="forbid")

    n_epochs: int | Literal["auto"] | None = Field(None, description="Passes over the file (or give steps).")
    steps: int | None = Field(None, ge=1, description="Optimizer steps; overrides n_epochs.")
    batch_size: int | Literal["auto"] | None = None
    learning_rate_multiplier: float | Literal["auto"] | None = Field(
        None, description=f"× {SFT_BASE_LEARNING_RATE} (SFT) or {GRPO_BASE_LEARNING_RATE} (GRPO)."
    )
    learning_rate: float | None = Field(None, gt=0, le=1, description="Overrides the multiplier.")


class SupervisedMethod(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hyperparameters: SupervisedHyperparameters = Field(default_factory=SupervisedHyperparameters)
    loss: Literal["nll", "dft", "is"] = Field("nll", description="nll, dft (Dynamic FT) or is (importance)")
    lora: bool = Field(False, description="Train a LoRA adapter instead of the full model.")
    lora_r: int | None = Field(None, ge=1, le=1024)
    lora_alpha: int | None = Field(None, ge=1)
    max_length: int | None = Field(None, ge=8)


class GRPOMethod(BaseModel):
    """Our extension: GRPO with a LoRA adapter — the rewriting policy (``rewriter``) or on-policy task RL."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["rewriter", "task"] = "rewriter"
    hyperparameters: SupervisedHyperparameters = Field(default_factory=SupervisedHyperparameters)
    num_generations: int | None = Field(None, ge=2, le=64)
    prompts_per_step: int | None = Field(None, ge=1)
    beta: float | None = Field(None, ge=0)
    lora_r: int | None = Field(None, ge=1, le=1024)
    lora_alpha: int | None = Field(None, ge=1)
    max_completion_length: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, gt=0, le=2)
    verifier: str = "toy-number"
    verifier_options: dict[str, str | float] = Field(default_factory=dict)
    lambda_dist: float | None = Field(None, ge=0)
    lambda_div: float | None = Field(None, ge=0)
    warm_start_file: str | None = Field(
        None,
        description="rewriter mode: the output file of a rewrite job on the same training file; one epoch of LoRA "
        "SFT on its accepted rewrites comes before GRPO",
    )


class Method(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["supervised", "grpo"]
    supervised: SupervisedMethod | None = None
    grpo: GRPOMethod | None = None


class FineTuningJobRequest(BaseModel):
    """``POST /v1/fine_tuning/jobs`` — OpenAI's body; ``method.type`` ``supervised`` or ``grpo`` (ours)."""

    model_config = ConfigDict(extra="forbid")

    model: str
    training_file: str
    method: Method | None = None
    hyperparameters: SupervisedHyperparameters | None = Field(
        None,
        description="Deprecated by OpenAI in favour of method.supervised.hyperparameters; still accepted.",
    )
    seed: int | None = None
    suffix: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    validation_file: str | None = None
    metadata: dict[str, str] | None = None
    integrations: list[dict[str, Any]] | None = None


class FineTuneJobSpec(BaseModel):
    """What a fine-tuning job is recorded with; ``sft`` / ``grpo`` are the keyword arguments of training's
    SFTSpec / GRPOSpec."""

    model: str
    training_file: str
    method: Literal["supervised", "grpo"]
    sft: dict[str, Any] | None = None
    grpo: dict[str, Any] | None = None
    seed: int
    suffix: str | None = None
    hyperparameters: dict[str, Any]  # as shown: n_epochs, batch_size, learning_rate_multiplier (+ ours)
    method_body: dict[str, Any]  # the method as given, defaults filled in
    metadata: dict[str, str] | None = None


def training_plan(request: FineTuningJobRequest, rows: int, seed: int) -> FineTuneJobSpec:
    """Resolve ``auto`` and epochs into exact settings for the trainer: steps, batch size, learning rate.

    >>> plan = training_plan(FineTuningJobRequest(model="toy", training_file="file-x",
    ...     method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2, "batch_size": 8}}}),
    ...     rows=20, seed=0)
    >>> plan.sft["steps"], plan.sft["batch_size"], plan.hyperparameters["n_epochs"]
    (5, 8, 2)
    """
    if request.validation_file:
        raise InvalidRequest("validation_file is not supported yet.", param="validation_file")
    if request.integrations:
        raise InvalidRequest("integrations are not supported.", param="integrations")
    method = request.method or Method(
        type="supervised", supervised=SupervisedMethod(hyperparameters=request.hyperparameters or {})
    )
    if method.type == "supervised":
        body = method.supervised or SupervisedMethod()
        if method.grpo is not None:
            raise InvalidRequest("method.grpo is given but method.type is supervised.", param="method.grpo")
        hyper, base_lr, param = (
            body.hyperparameters,
            SFT_BASE_LEARNING_RATE,
            "method.supervised.hyperparameters",
        )
    else:
        grpo = method.grpo or GRPOMethod()
        if method.supervised is not None:
            raise InvalidRequest(
                "method.supervised is given but method.type is grpo.", param="method.supervised"
            )
        check_verifier(grpo.verifier, grpo.verifier_options, param="method.grpo.verifier")
        hyper, base_lr, param = grpo.hyperparameters, GRPO_BASE_LEARNING_RATE, "method.grpo.hyperparameters"
    if method.type == "supervised":
        batch = hyper.batch_size if isinstance(hyper.batch_size, int) else DEFAULT_BATCH_SIZE
        per_step = batch  # rows per optimizer step
    else:  # GRPO's batch counts completions: prompts per step × generations per prompt (DESIGN §3.1.1)
        generations = grpo.num_generations or GRPO_GENERATIONS
        per_step = grpo.prompts_per_step or (
            max(1, hyper.batch_size // generations) if isinstance(hyper.batch_size, int) else GRPO_PROMPTS
        )
        batch = per_step * generations
    if batch < 1:
        raise InvalidRequest("batch_size must be at least 1.", param=f"{param}.batch_size")
    if hyper.steps is not None:
        steps = hyper.steps
    elif isinstance(hyper.n_epochs, int):
        if hyper.n_epochs < 1:
            raise InvalidRequest("n_epochs must be at least 1.", param=f"{param}.n_epochs")
        steps = max(1, math.ceil(hyper.n_epochs * rows / per_step))
    else:
        steps = DEFAULT_STEPS
    multiplier = hyper.learning_rate_multiplier if isinstance(hyper.learning_rate_multiplier, float) else 1.0
    if multiplier <= 0:
        raise InvalidRequest(
            "learning_rate_multiplier must be > 0.", param=f"{param}.learning_rate_multiplier"
        )
    lr = hyper.learning_rate or base_lr * multiplier
    if lr > 1:
        raise InvalidRequest(f"the learning rate {lr} is above 1.", param=f"{param}.learning_rate_multiplier")
    shown = {
        "n_epochs": hyper.n_epochs if hyper.n_epochs is not None else "auto",
        "batch_size": batch,
        "learning_rate_multiplier": round(lr / base_lr, 6),
        "steps": steps,
        "learning_rate": lr,
    }
    seed = request.seed if request.seed is not None else seed
    common = {"steps": steps, "lr": lr, "seed": seed}
    if method.type == "supervised":
        sft = {"loss": body.loss, "lora": body.lora, "batch_size": batch, **common}
        sft.update(body.model_dump(include={"lora_r", "lora_alpha", "max_length"}, exclude_none=True))
        return FineTuneJobSpec(
            model=request.model,
            training_file=request.training_file,
            method="supervised",
            sft=sft,
            seed=seed,
            suffix=request.suffix,
            hyperparameters=shown,
            method_body={"type": "supervised", "supervised": {**body.model_dump(), "hyperparameters": shown}},
            metadata=request.metadata,
        )
    extra = grpo.model_dump(exclude={"hyperparameters"}, exclude_none=True)
    extra["prompts_per_step"] = per_step
    return FineTuneJobSpec(
        model=request.model,
        training_file=request.training_file,
        method="grpo",
        grpo={**extra, **common},
        seed=seed,
        suffix=request.suffix,
        hyperparameters=shown,
        method_body={"type": "grpo", "grpo": {**grpo.model_dump(), **extra, "hyperparameters": shown}},
        metadata=request.metadata,
    )


# ---- evaluation runs ----------------------------------------------------------------------------------------


class EvalRunRequest(BaseModel):
    """``POST /v1/eval_runs``: greedy accuracy per suite; with ``base``, gain and forgetting against it."""

    model_config = ConfigDict(extra="forbid")

    model: str
    adapter: str | None = Field(None, description="An adapter model id to apply on the model.")
    suites: list[str] | None = Field(None, description="Toy suite names; default: all.")
    n: int = Field(200, ge=1, le=5000, description="Test problems per suite.")
    base: str | None = Field(None, description="Compare with this model: gain and forgetting.")
    seed: int = 0
    metadata: dict[str, str] | None = None


class EvalRunSpec(BaseModel):
    model: str
    adapter: str | None = None
    suites: list[str]
    n: int
    base: str | None = None
    seed: int = 0
    engine: str = "hf"
    metadata: dict[str, str] | None = None


def check_suites(suites: list[str] | None) -> list[str]:
    from rewriter.suites import SUITES

    names = list(SUITES) if suites is None else suites
    if not names:
        raise InvalidRequest("suites must name at least one suite.", param="suites")
    unknown = [name for name in names if name not in SUITES]
    if unknown:
        raise InvalidRequest(f"unknown suite {unknown[0]!r}; choose from {', '.join(SUITES)}", param="suites")
    return list(dict.fromkeys(names))


# ---- the service the routes call ----------------------------------------------------------------------------

Enqueue = Callable[["JobRecord"], None]


@dataclass
class JobService:
    """Jobs of every kind for the API: each create validates the request against the team's files and models,
    records the job, moves it to ``queued`` and enqueues it (record, then enqueue). Another team's id is NotFound."""

    store: Store
    models: Registry
    enqueue: Enqueue
    default_model: str = "toy"
    engine: str = "hf"
    shard_rows: int = 64

    def create_rewrite_job(self, team: str, request: RewriteJobRequest) -> JobRecord:
        spec = strategy_spec(request)
        check_verifier(request.verifier, request.verifier_options)
        self._dataset(team, request.input_file_id, "input_file_id")
        model = self.models.get(team, request.model or self.default_model, param="model")
        if model.kind == "adapter":
            raise InvalidRequest(
                f"{model.id} is a LoRA adapter: rewrite with its base model {model.parent} "
                "(a policy adapter goes in `adapter`).",
                param="model",
            )
        if request.adapter is not None:
            adapter = self.models.get(team, request.adapter, param="adapter")
            if adapter.kind != "adapter" or adapter.parent != model.id:
                raise InvalidRequest(
                    f"adapter {adapter.id} must be a LoRA adapter trained on {model.id}.", param="adapter"
                )
        record = RewriteJobSpec(
            input_file_id=request.input_file_id,
            model=model.id,
            adapter=request.adapter,
            strategy=spec,
            preview=request.preview,
            output_schema=request.output_schema,
            shard_rows=self.shard_rows,
            engine=self.engine,
            metadata=request.metadata,
        )
        return self._submit(team, "rewrite", record.model_dump(mode="json"), queue_for(self.engine))

    def create_fine_tuning_job(self, team: str, request: FineTuningJobRequest) -> JobRecord:
        file = self._dataset(team, request.training_file, "training_file")
        model = self.models.get(team, request.model, param="model")
        if model.kind == "adapter":
            raise InvalidRequest(
                f"{model.id} is a LoRA adapter; fine-tune its base model {model.parent} instead.",
                param="model",
            )
        grpo = request.method.grpo if request.method is not None else None
        if grpo is not None and grpo.warm_start_file is not None:
            if grpo.mode != "rewriter":
                raise InvalidRequest(
                    "warm_start_file is for the rewriting policy (mode 'rewriter').",
                    param="method.grpo.warm_start_file",
                )
            self._dataset(team, grpo.warm_start_file, "method.grpo.warm_start_file")
        plan = training_plan(request, file.rows, secrets.randbelow(2**31))
        plan.model = model.id
        return self._submit(team, "fine_tune", plan.model_dump(mode="json"), "cpu")

    def create_eval_run(self, team: str, request: EvalRunRequest) -> JobRecord:
        suites = check_suites(request.suites)
        model = self.models.get(team, request.model, param="model")
        if request.adapter is not None:
            adapter = self.models.get(team, request.adapter, param="adapter")
            if adapter.kind != "adapter" or adapter.parent != model.id:
                raise InvalidRequest(
                    f"adapter {adapter.id} must be a LoRA adapter trained on {model.id}.", param="adapter"
                )
        if request.base is not None:
            self.models.get(team, request.base, param="base")
        spec = EvalRunSpec(
            model=model.id,
            adapter=request.adapter,
            suites=suites,
            n=request.n,
            base=request.base,
            seed=request.seed,
            engine=self.engine,
            metadata=request.metadata,
        )
        return self._submit(team, "eval", spec.model_dump(mode="json"), queue_for(self.engine))

    def get(self, team: str, kind: str, job_id: str) -> JobRecord:
        job = self.store.get_job(job_id, team=team)
        if job.kind != kind:  # an id of another kind is no job of this resource
            raise NotFound(f"No such job: {job_id}", param="job_id")
        return job

    def list(
        self, team: str, kind: str, *, after: str | None = None, limit: int = 20, order: Order = "desc"
    ) -> Page[JobRecord]:
        return self.store.list_jobs(team, kind, after=after, limit=limit, order=order)

    def cancel(self, team: str, kind: str, job_id: str) -> JobRecord:
        self.get(team, kind, job_id)
        return self.store.request_cancel(job_id, team=team)

    def events(
        self, team: str, kind: str, job_id: str, *, after: str | None = None, limit: int = 20
    ) -> Page[Event]:
        """Events oldest first, after the cursor (an event id as shown, ``ftevent-1700000000000-0``)."""
        self.get(team, kind, job_id)
        cursor = after.removeprefix(f"{EVENT_PREFIX[kind].value}-") if after else None
        return self.store.list_events(job_id, team=team, after=cursor, limit=limit)

    def checkpoints(
        self, team: str, job_id: str, *, after: str | None = None, limit: int = 10
    ) -> Page[dict[str, Any]]:
        """A fine-tuning job's checkpoints, newest first (the final one is the fine-tuned model)."""
        from rewriter.service.store import Page

        job = self.get(team, "fine_tune", job_id)
        found: list[dict[str, Any]] = list(reversed((job.result or {}).get("checkpoints", [])))
        if after is not None:
            ids = [c["id"] for c in found]
            if after not in ids:
                raise InvalidRequest(f"after: no such checkpoint: {after}", param="after")
            found = found[ids.index(after) + 1 :]
        return Page(found[:limit], has_more=len(found) > limit)

    def _dataset(self, team: str, file_id: str, param: str) -> FileRecord:
        try:
            file = self.store.get_file(file_id, team=team)
        except NotFound:
            raise NotFound(f"No such File object: {file_id}", param=param) from None
        if file.schema not in DATASET_SCHEMAS:
            raise InvalidRequest(
                f"{file_id} is a {file.purpose} file, not a dataset (qa, prompt_completion or messages).",
                param=param,
            )
        return file

    def _submit(self, team: str, kind: str, spec: dict[str, Any], queue: str) -> JobRecord:
        job = self.store.create_job(team, kind, spec, queue=queue)
        self.store.transition(job.id, [job.lifecycle.initial], job.lifecycle.queued)
        job = self.store.get_job(job.id, team=team)
        self.enqueue(job)
        return job
