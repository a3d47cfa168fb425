"""Typed, validated rewrite specifications: a spec that cannot run is refused when it is made, with a fix-it message."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rewriter import prompts

StrategyName = Literal["identity", "self_distill", "guided_resolve", "policy", "auto"]
Selection = Literal["first", "min_nll", "reward"]
Fallback = Literal["expert", "drop"]

# numpy's seeds (transformers' set_seed seeds numpy too) are unsigned 32-bit: a larger or negative seed would pass
# here and fail in the worker.
MAX_SEED = 2**32 - 1
Seed = Annotated[int, Field(ge=0, le=MAX_SEED, description="Random seed, 0 to 2**32 - 1.")]
# A verifier option: a string or a finite number (each verifier checks its own).
VerifierOptions = dict[str, str | float]

DEFAULT_SELECTION: dict[str, Selection] = {
    "identity": "first",
    "self_distill": "min_nll",
    "guided_resolve": "min_nll",
    "policy": "reward",
    "auto": "min_nll",
}


class StrategySpec(BaseModel):
    """How to rewrite: strategy, sampling, gate, selection and fallback. Defaults follow the papers (DESIGN §2.2)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    strategy: StrategyName = "guided_resolve"
    k: int = Field(4, ge=1, le=64, description="candidates sampled per row (per stage)")
    temperature: float = Field(1.0, ge=0.0, le=2.0, description="T1: sampling temperature of the first stage")
    guided_temperature: float = Field(0.7, ge=0.0, le=2.0, description="T2: guided_resolve's second stage")
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_new_tokens: int = Field(256, ge=1, le=8192)
    selection: Selection | None = Field(None, description="default: min_nll (reward for policy)")
    fallback: Fallback = "expert"
    verifier: str = "math"
    verifier_options: VerifierOptions = Field(default_factory=dict)
    seed: Seed = 0
    adapter: str | None = Field(
        None,
        description="policy: a LoRA adapter directory (none = prompt-only rewriting); auto: the policy stage runs "
        "only with one",
    )
    guided_template: str = prompts.GUIDED_TEMPLATE
    self_distill_template: str = prompts.SELF_DISTILL_TEMPLATE
    rewrite_template: str = prompts.REWRITE_TEMPLATE
    banned_phrases: list[str] = Field(default_factory=lambda: list(prompts.BANNED_PHRASES))
    lambda_dist: float = Field(0.35, ge=0.0)
    lambda_div: float = Field(0.5, ge=0.0)

    @model_validator(mode="after")
    def _check(self) -> StrategySpec:
        if self.selection is None:
            self.selection = DEFAULT_SELECTION[self.strategy]
        if self.strategy != "identity" and self.k > 1:
            if self.temperature == 0 and self.strategy not in ("guided_resolve", "auto"):
                raise ValueError(
                    "temperature 0 (greedy) makes all k candidates identical: set temperature > 0 or k=1"
                )
            if self.strategy in ("guided_resolve", "auto") and 0 in (
                self.temperature,
                self.guided_temperature,
            ):
                raise ValueError(
                    f"{self.strategy} samples k candidates per stage: temperature and guided_temperature must be > 0 "
                    "(or k=1)"
                )
        if self.adapter and self.strategy not in ("policy", "auto"):
            raise ValueError("an adapter only applies to the policy and auto strategies")
        for name, template in (
            ("guided_template", self.guided_template),
            ("self_distill_template", self.self_distill_template),
            ("rewrite_template", self.rewrite_template),
        ):
            try:
                prompts.check_template(template, needs_reference=True)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        return self

    @property
    def chosen_selection(self) -> Selection:
        assert self.selection is not None
        return self.selection
