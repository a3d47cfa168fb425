"""How to train with GRPO: :class:`GRPOSpec`, checked when it is made (an unknown verifier, a template without its
placeholders or a warm start outside rewriter mode is refused before any model loads)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rewriter import prompts
from rewriter.reward import LAMBDA_DIST, LAMBDA_DIV
from rewriter.verifiers import get_verifier

Mode = Literal["rewriter", "task"]


class GRPOSpec(BaseModel):
    """How to train. Defaults fit the toy (DESIGN §3.1.1): rank 16 and lr 1e-3 (the paper's rank 64 / lr 3e-6 are for
    billion-parameter models; GRPO's default lr 1e-6 does not move the toy at all), 96-token completions."""

    model_config = ConfigDict(extra="forbid")

    mode: Mode = "rewriter"
    num_generations: int = Field(4, ge=2, le=64, description="completions per prompt (the group)")
    prompts_per_step: int = Field(4, ge=1)
    steps: int = Field(100, ge=1)
    lr: float = Field(1e-3, gt=0.0, le=1.0)
    beta: float = Field(0.001, ge=0.0, description="KL coefficient to the frozen backbone")
    lora_r: int = Field(16, ge=1, le=1024)
    lora_alpha: int = Field(32, ge=1)
    max_completion_length: int = Field(96, ge=1)
    temperature: float = Field(1.0, gt=0.0, le=2.0)
    verifier: str = "toy-number"
    verifier_options: dict[str, str | float] = Field(default_factory=dict)
    lambda_dist: float = Field(LAMBDA_DIST, ge=0.0)
    lambda_div: float = Field(LAMBDA_DIV, ge=0.0)
    seed: int = 0
    eval_every: int | None = Field(None, ge=1, description="call hooks.on_eval every N steps (and at step 0)")
    prompt_template: str | None = Field(
        None, description="QA prompt; default: the model's own (rewriter.json)"
    )
    rewrite_template: str = prompts.REWRITE_TEMPLATE
    warm_start: str | None = Field(
        None,
        description="rewriter mode: a rewrite output of the same rows (JSONL, e.g. guided_resolve's); the adapter "
        "first learns by LoRA SFT to write each accepted rewrite from the rewrite prompt, then GRPO goes on from it",
    )
    warm_start_epochs: float = Field(1.0, gt=0.0, le=100.0, description="passes over the accepted rewrites")
    warm_start_lr: float = Field(1e-3, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _check(self) -> GRPOSpec:
        get_verifier(self.verifier, **self.verifier_options)  # refuse an unknown verifier or bad options now
        if self.prompt_template is not None:
            prompts.check_template(self.prompt_template, needs_reference=False)
        prompts.check_template(self.rewrite_template, needs_reference=True)
        if self.warm_start is not None and self.mode != "rewriter":
            raise ValueError("warm_start is for the rewriting policy (mode='rewriter')")
        return self

    @property
    def completions_per_step(self) -> int:
        # TRL's per_device_train_batch_size counts completions, not prompts; one generation batch per step.
        return self.prompts_per_step * self.num_generations
