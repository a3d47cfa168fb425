"""Fine-tuning jobs: OpenAI's request body (``FineTuningJobRequest``, with ``method.type`` ``supervised`` or our
``grpo``), what the job is recorded with (``FineTuneJobSpec``) and the plan that resolves ``auto`` and epochs into
exact trainer settings (``training_plan``)."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rewriter.errors import InvalidRequest
from rewriter.jobs.rewrite import VERIFIER_ENUM, check_verifier
from rewriter.specs import Seed, VerifierOptions

# The learning rate `learning_rate_multiplier` scales: the toy recipe's (full fine-tune, AdamW, DESIGN §4.1).
SFT_BASE_LEARNING_RATE = 1e-4
GRPO_BASE_LEARNING_RATE = 1e-3  # LoRA; GRPO's own default 1e-6 does not move the toy at all (DESIGN §3.1.1)
DEFAULT_BATCH_SIZE = 32
GRPO_PROMPTS, GRPO_GENERATIONS = 4, 4  # the trainer's defaults: 16 completions per step
DEFAULT_STEPS = 100
# Upper bounds on what a job may ask for: far above any run on this service (the toy recipe takes 100 steps of 32
# rows), low enough that a typo such as 10**12 steps is refused instead of queueing a job that never ends.
MAX_STEPS = 1_000_000
MAX_BATCH = 4096
# Request models refuse unknown fields, NaN and ±inf (a NaN learning rate would train to NaN weights).
STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)


class SupervisedHyperparameters(BaseModel):
    """OpenAI's supervised hyperparameters, plus ``steps`` and ``learning_rate`` (ours) to set them exactly."""

    model_config = STRICT

    n_epochs: Annotated[int, Field(ge=1, le=MAX_STEPS)] | Literal["auto"] | None = Field(
        None, description="Passes over the file (or give steps)."
    )
    steps: int | None = Field(None, ge=1, le=MAX_STEPS, description="Optimizer steps; overrides n_epochs.")
    batch_size: Annotated[int, Field(ge=1, le=MAX_BATCH)] | Literal["auto"] | None = None
    learning_rate_multiplier: Annotated[float, Field(gt=0, le=1e4)] | Literal["auto"] | None = Field(
        None,
        description=f"× {SFT_BASE_LEARNING_RATE} (SFT) or {GRPO_BASE_LEARNING_RATE} (GRPO); the rate must stay <= 1.",
    )
    learning_rate: float | None = Field(None, gt=0, le=1, description="Overrides the multiplier.")
    n_processes: int | None = Field(
        None,
        ge=1,
        le=1024,
        description="Data-parallel training processes (DDP through accelerate; supervised only), at most the workers' "
        "REWRITER_WORKER__MAX_TRAIN_PROCESSES; batch_size must be a multiple of it. Default 1.",
    )


class SupervisedMethod(BaseModel):
    model_config = STRICT

    hyperparameters: SupervisedHyperparameters = Field(default_factory=SupervisedHyperparameters)
    loss: Literal["nll", "dft", "is"] = Field("nll", description="nll, dft (Dynamic FT) or is (importance)")
    lora: bool = Field(False, description="Train a LoRA adapter instead of the full model.")
    lora_r: int | None = Field(None, ge=1, le=1024)
    lora_alpha: int | None = Field(None, ge=1, le=65536)
    max_length: int | None = Field(None, ge=8, le=131072)
    conditioning: Literal["qa", "chat"] = Field(
        "qa",
        description="qa: the question in the model's QA prompt; chat: the model's chat template over the row's "
        "conversation (system prompt and earlier turns kept), the final assistant turn the only target.",
    )
    # The levers for rows no rewrite passed (issue 15; training.token_weights, training.replay).
    token_weighting: Literal["none", "mask", "down"] = Field(
        "none",
        description="mask or down-weight target tokens whose NLL under the base is above the threshold",
    )
    token_nll_threshold: float = Field(2.5, gt=0, le=100, description="nats; STM masks above ~2.5")
    replay_ratio: float = Field(
        0.0, ge=0, le=0.9, description="share of replay rows in the training set: the base's own samples"
    )
    replay_file: str | None = Field(
        None, description="replay this file's rows instead (needs replay_ratio > 0)"
    )


class GRPOMethod(BaseModel):
    """Our extension: GRPO with a LoRA adapter — the rewriting policy (``rewriter``) or on-policy task RL."""

    model_config = STRICT

    mode: Literal["rewriter", "task"] = "rewriter"
    hyperparameters: SupervisedHyperparameters = Field(default_factory=SupervisedHyperparameters)
    num_generations: int | None = Field(None, ge=2, le=64)
    prompts_per_step: int | None = Field(None, ge=1, le=MAX_BATCH)
    beta: float | None = Field(None, ge=0, le=1000)
    lora_r: int | None = Field(None, ge=1, le=1024)
    lora_alpha: int | None = Field(None, ge=1, le=65536)
    max_completion_length: int | None = Field(None, ge=1, le=8192)
    temperature: float | None = Field(None, gt=0, le=2)
    verifier: str = Field("toy-number", json_schema_extra=VERIFIER_ENUM)
    verifier_options: VerifierOptions = Field(default_factory=dict)
    lambda_dist: float | None = Field(None, ge=0, le=1000)
    lambda_div: float | None = Field(None, ge=0, le=1000)
    warm_start_file: str | None = Field(
        None,
        description="rewriter mode: the output file of a rewrite job on the same training file; one epoch of LoRA "
        "SFT on its accepted rewrites comes before GRPO",
    )


class Method(BaseModel):
    model_config = STRICT

    type: Literal["supervised", "grpo"]
    supervised: SupervisedMethod | None = None
    grpo: GRPOMethod | None = None


class FineTuningJobRequest(BaseModel):
    """``POST /v1/fine_tuning/jobs`` — OpenAI's body; ``method.type`` ``supervised`` or ``grpo`` (ours)."""

    model_config = STRICT

    model: str
    training_file: str
    method: Method | None = None
    hyperparameters: SupervisedHyperparameters | None = Field(
        None,
        description="Deprecated by OpenAI in favour of method.supervised.hyperparameters; still accepted.",
    )
    seed: Seed | None = None
    suffix: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    validation_file: str | None = Field(
        None,
        description="A dataset file of the team (supervised only): its loss is computed at every validation step "
        "and logged as valid_loss next to train_loss.",
    )
    metadata: dict[str, str] | None = None
    integrations: list[dict[str, Any]] | None = None


class FineTuneJobSpec(BaseModel):
    """What a fine-tuning job is recorded with; ``sft`` / ``grpo`` are the keyword arguments of training's
    SFTSpec / GRPOSpec."""

    model: str
    training_file: str
    validation_file: str | None = None
    method: Literal["supervised", "grpo"]
    sft: dict[str, Any] | None = None
    grpo: dict[str, Any] | None = None
    seed: int
    suffix: str | None = None
    hyperparameters: dict[str, Any]  # as shown: n_epochs, batch_size, learning_rate_multiplier (+ ours)
    method_body: dict[str, Any]  # the method as given, defaults filled in
    metadata: dict[str, str] | None = None


def training_plan(
    request: FineTuningJobRequest, rows: int, seed: int, *, max_processes: int = 1
) -> FineTuneJobSpec:
    """Resolve ``auto`` and epochs into exact settings for the trainer: steps, batch size, learning rate, and the
    number of training processes (at most ``max_processes``, the workers' setting).

    >>> plan = training_plan(FineTuningJobRequest(model="toy", training_file="file-x",
    ...     method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2, "batch_size": 8}}}),
    ...     rows=20, seed=0)
    >>> plan.sft["steps"], plan.sft["batch_size"], plan.hyperparameters["n_epochs"]
    (5, 8, 2)
    """
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
        if request.validation_file is not None:
            raise InvalidRequest(
                "validation_file is for supervised fine-tuning; a GRPO job has no validation loss.",
                param="validation_file",
            )
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
    processes = hyper.n_processes or 1
    if processes > max_processes:
        raise InvalidRequest(
            f"n_processes {processes} is above the {max_processes} process(es) a worker trains with "
            "(REWRITER_WORKER__MAX_TRAIN_PROCESSES).",
            param=f"{param}.n_processes",
        )
    if processes > 1 and method.type != "supervised":
        raise InvalidRequest(
            "n_processes > 1 is for supervised fine-tuning; GRPO trains in one process.",
            param=f"{param}.n_processes",
        )
    if batch % processes:
        raise InvalidRequest(
            f"batch_size {batch} must be a multiple of n_processes {processes} (each process takes an equal share "
            "of every step).",
            param=f"{param}.n_processes",
        )
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
        "n_processes": processes,
    }
    seed = request.seed if request.seed is not None else seed
    common = {"steps": steps, "lr": lr, "seed": seed}
    if method.type == "supervised":
        sft = {
            "loss": body.loss,
            "lora": body.lora,
            "conditioning": body.conditioning,
            "batch_size": batch,
            "n_processes": processes,
            **common,
        }
        if body.replay_file is not None and body.replay_ratio == 0:
            raise InvalidRequest(
                "replay_file is given but replay_ratio is 0: set replay_ratio (e.g. 0.3).",
                param="method.supervised.replay_ratio",
            )
        if body.token_weighting != "none" and body.loss != "nll":
            raise InvalidRequest(
                f"token_weighting weights the nll loss; it does not combine with loss {body.loss!r}.",
                param="method.supervised.token_weighting",
            )
        sft.update(
            body.model_dump(
                include={"lora_r", "lora_alpha", "max_length", "replay_file"}
                | {"token_weighting", "token_nll_threshold", "replay_ratio"},
                exclude_none=True,
            )
        )
        return FineTuneJobSpec(
            model=request.model,
            training_file=request.training_file,
            validation_file=request.validation_file,
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
