"""GRPO's reward functions for TRL: Patch's grouped rewriter reward and the task gate.

TRL calls a reward function once per generation batch with the prompts, the completions and the dataset's extra
columns (``question``, ``gold``); it keeps a prompt's ``num_generations`` completions together, in prompt order, so
each row's group is a contiguous slice and is scored together (diversity and the NLL ranking are group terms).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from rewriter.engines.hf import HFEngine
from rewriter.reward import group_rewards
from rewriter.verifiers import Verifier
from training.grpo_spec import GRPOSpec


def groups(n: int, size: int) -> list[slice]:
    """The contiguous groups of a generation batch (TRL keeps a prompt's completions together, in prompt order).

    >>> groups(6, 3)
    [slice(0, 3, None), slice(3, 6, None)]
    """
    if size < 1 or n % size:
        raise ValueError(f"a batch of {n} completions is not a whole number of groups of {size}")
    return [slice(start, start + size) for start in range(0, n, size)]


def check_groups(prompts_: Sequence[str], size: int) -> list[slice]:
    """Groups, after checking that each one holds a single prompt (a misaligned slice would mix rows' rewards)."""
    out = groups(len(prompts_), size)
    for group in out:
        if len(set(prompts_[group])) != 1:
            raise ValueError("a group of completions spans several prompts: groups are not contiguous")
    return out


def spread(values: Sequence[float]) -> float:
    """Population std of one group's values (0 for fewer than two).

    >>> spread([1.0, 1.0]), spread([0.0, 2.0])
    (0.0, 1.0)
    """
    return float(np.std(values)) if len(values) > 1 else 0.0


class RewriteReward:
    """Patch's grouped reward for TRL: called once per generation batch, scores each row's group together."""

    __name__ = "rewrite"

    def __init__(self, verifier: Verifier, base: HFEngine, num_generations: int, spec: GRPOSpec) -> None:
        self.verifier = verifier
        self.base = base
        self.k = num_generations
        self.lambda_dist = spec.lambda_dist
        self.lambda_div = spec.lambda_div

    def __call__(
        self, prompts: list[str], completions: list[str], question: list[str], gold: list[str], **kw: Any
    ) -> list[float]:
        spans = check_groups(prompts, self.k)
        passed = [v.passed for v in self.verifier.verify_many(completions, gold)]
        feasible = [i for i, ok in enumerate(passed) if ok]
        # NLL under the frozen base with the QA prompt, in one batched teacher-forced pass over the feasible ones.
        nlls: list[float | None] = [None] * len(completions)
        if feasible:
            scored = self.base.score(
                [question[i] for i in feasible], [completions[i] for i in feasible], conditioning="qa"
            )
            for i, logprobs in zip(feasible, scored, strict=True):
                nlls[i] = -sum(logprobs) / max(1, len(logprobs))
        # Embeddings only where a group has two or more feasible candidates (diversity needs a pair).
        width = 0
        embeddings: list[list[float]] = [[] for _ in completions]
        wanted = [i for g in spans if sum(passed[g]) > 1 for i in range(g.start, g.stop) if passed[i]]
        if wanted:
            for i, vector in zip(wanted, self.base.embed([completions[i] for i in wanted]), strict=True):
                embeddings[i] = vector
            width = len(embeddings[wanted[0]])
        totals: list[float] = []
        stats: dict[str, list[float]] = {
            "dist": [],
            "div": [],
            "dist_spread": [],
            "div_spread": [],
            "zero": [],
        }
        for g in spans:
            vectors = [e or [0.0] * width for e in embeddings[g]] if width else None
            rewards = group_rewards(
                passed[g], nlls[g], vectors, lambda_dist=self.lambda_dist, lambda_div=self.lambda_div
            )
            totals += [r.total for r in rewards]
            ok = [r for r in rewards if r.task > 0]
            stats["dist"] += [r.dist for r in ok]
            stats["div"] += [r.div for r in ok]
            if len(ok) > 1:
                stats["dist_spread"].append(spread([r.dist for r in ok]))
                stats["div_spread"].append(spread([r.div for r in ok]))
            stats["zero"].append(float(spread([r.total for r in rewards]) == 0.0))
        log = kw.get("log_metric")
        if log is not None:
            feasible_nll = [n for n in nlls if n is not None]
            log("rewrite/task", float(np.mean(passed)))
            log("rewrite/dist", _mean(stats["dist"]))  # over feasible completions
            log("rewrite/div", _mean(stats["div"]))
            # Within-group variation of the graded terms (over groups with 2+ feasible): 0 would mean the group terms
            # carry no signal, which is what scoring candidates one at a time produces.
            log("rewrite/dist_group_std", _mean(stats["dist_spread"]))
            log("rewrite/div_group_std", _mean(stats["div_spread"]))
            log("rewrite/zero_spread_groups", _mean(stats["zero"]))
            log("rewrite/base_nll", _mean(feasible_nll))
        return totals


class GateReward:
    """On-policy task RL: the gate alone, 1.0 for a completion whose answer equals the gold, else 0.0."""

    __name__ = "gate"

    def __init__(self, verifier: Verifier, num_generations: int) -> None:
        self.verifier = verifier
        self.k = num_generations

    def __call__(self, prompts: list[str], completions: list[str], gold: list[str], **kw: Any) -> list[float]:
        spans = check_groups(prompts, self.k)
        rewards = [1.0 if v.passed else 0.0 for v in self.verifier.verify_many(completions, gold)]
        if (log := kw.get("log_metric")) is not None:
            log("gate/task", float(np.mean(rewards)))
            log("gate/zero_spread_groups", _mean([float(spread(rewards[g]) == 0.0) for g in spans]))
        return rewards


def _mean(values: Sequence[float]) -> float:
    # NaN when undefined: TRL's logger drops NaN values and reports None for a step that has none.
    return float(np.mean(values)) if len(values) else math.nan
