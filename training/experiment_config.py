"""What the forgetting experiment runs (:class:`ExperimentConfig`, its :data:`ARMS`) and what each arm yields
(:class:`ArmResult`): the types :mod:`training.experiment` runs and :mod:`training.experiment_report` aggregates.

>>> ExperimentConfig.quick().seeds, [arm.name for arm in ARMS][:2]
([0], ['base', 'sft-expert'])
>>> team = ExperimentConfig(train_file="data/shop/train.jsonl", test_file="data/shop/test.jsonl", verifier="numeric")
>>> team.task, team.arm_names()
('shop/test', ['base', 'sft-expert', 'guided_resolve+sft', 'self_distill+sft', 'dft-expert'])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, model_validator

# The arms a run on a team's files makes by default: those without a trained rewriting policy or task GRPO
# (each of those costs more than all the SFT arms together on 2 cores); --arms adds them.
FILE_ARMS = ["base", "sft-expert", "guided_resolve+sft", "self_distill+sft", "dft-expert"]


class ExperimentConfig(BaseModel):
    task: str = "downstream"
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2])
    rows: int = 600
    sft_steps: int = 100
    # The previous 2,500-step backbone lost 18% of its base skills to expert SFT at 1e-4 and 27% at 3e-4; the
    # committed one loses 64% at 5e-4 (docs/results/README.md).
    sft_lr: float = 5e-4
    batch_size: int = 32
    eval_every: int | None = 50
    eval_n: int = 100
    curve_n: int = 40  # per suite, for the curves: 7 suites x 40 prompts ≈ 2 s an evaluation
    # The backbone never saw the policy's rewrite instruction: 7% of its zero-shot candidates pass the gate. GRPO
    # from there collapsed at a 0.51-0.67 pass rate after 150 steps; after the warm start 98% pass (0.98 on unseen
    # rows too) and GRPO keeps them there.
    rewriter_grpo_steps: int = 100
    # LoRA SFT on guided_resolve's accepted rewrites before the policy's GRPO (False: from scratch). One epoch of 600
    # rows is 38 steps; --quick's 256 rows need 3 epochs (48 steps): after one (16 steps) only 51% of candidates passed.
    rewriter_warm_start: bool = True
    rewriter_warm_start_epochs: float = Field(1.0, gt=0.0)
    task_grpo_steps: int = 60
    k: int = 4
    model: str = "toy"
    arms: list[str] | None = None  # default: all (FILE_ARMS on a team's files)
    jobs: int = Field(1, ge=1, description="seeds run in parallel processes (one torch thread each)")
    # A team's data instead of a built-in task: the training file's targets are the expert data (any supported
    # schema, the first `rows` rows), the test file's rows the downstream test (accuracy through `verifier`).
    train_file: str | None = None
    test_file: str | None = None
    verifier: str = "toy-number"

    @model_validator(mode="after")
    def _check(self) -> ExperimentConfig:
        if (self.train_file is None) != (self.test_file is None):
            raise ValueError("give both --train and --test (a team's files), or neither (a built-in task)")
        if self.train_file is not None:
            # the downstream column's name: the test file's folder and stem, e.g. "shop/test"
            path = Path(self.test_file or "")
            self.task = f"{path.parent.name}/{path.stem}" if path.parent.name else path.stem
        known = {arm.name for arm in ARMS}
        if self.arms is not None and (unknown := [a for a in self.arms if a not in known]):
            raise ValueError(f"unknown arms {unknown}; known: {sorted(known)}")
        from rewriter.verifiers import get_verifier

        get_verifier(self.verifier)  # an unknown verifier fails now, not after the first arm
        return self

    def arm_names(self) -> list[str]:
        """The arms this run makes, in run order."""
        chosen = self.arms if self.arms is not None else FILE_ARMS if self.train_file else None
        return [arm.name for arm in ARMS if chosen is None or arm.name in chosen]

    @classmethod
    def quick(cls, **overrides: Any) -> ExperimentConfig:
        base = {"seeds": [0], "rows": 256, "sft_steps": 60, "eval_every": 20, "eval_n": 100, "curve_n": 40,
                "rewriter_grpo_steps": 30, "rewriter_warm_start_epochs": 3.0, "task_grpo_steps": 30}  # fmt: skip
        return cls(**{**base, **overrides})


@dataclass(frozen=True)
class Arm:
    name: str
    data: str | None = None  # "expert" or a rewrite name in REWRITES
    loss: str = "nll"
    grpo_task: bool = False


ARMS = [  # in run order: the comparisons that matter most first
    Arm("base"),
    Arm("sft-expert", "expert", "nll"),
    Arm("guided_resolve+sft", "guided_resolve", "nll"),
    Arm("self_distill+sft", "self_distill", "nll"),
    Arm("policy-grpo+sft", "policy_grpo", "nll"),
    Arm("policy-prompt+sft", "policy_prompt", "nll"),
    Arm("dft-expert", "expert", "dft"),
    Arm("guided_resolve+is", "guided_resolve", "is"),
    Arm("grpo-task", grpo_task=True),
]


@dataclass
class ArmResult:
    arm: str
    seed: int
    accuracy: dict[str, float]
    comparison: dict[str, Any]
    targets: dict[str, Any] | None  # NLL of the training targets under the base (mean, median, share > 1 nat)
    rewrite: dict[str, Any] | None  # acceptance / fallback of the rewrite behind the arm
    curve: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
