"""Rewrite strategies (DESIGN §2.2), each run over a whole shard of rows at once: every engine call is batched
across the shard, never made row by row.

- ``identity``: the row passes through, scored (baseline vanilla-SFT data).
- ``self_distill``: the model answers with y* as a guide (SDFT); gate + banned-phrase filter; else fallback.
- ``guided_resolve``: K samples on x alone (``self``); rows with none correct get K samples guided by y*
  (``guided``); else fallback (Mind the Gap).
- ``policy``: a rewriting policy (LoRA adapter, or none = prompt-only) rewrites y*; select by grouped reward (Patch).
- ``auto``: the cascade self -> guided -> the team's trained policy (only when an adapter is given) -> fallback;
  each stage runs only on the rows every earlier stage left unsolved, and ``Decision.stage`` names the stage that
  produced the row (``self``, ``guided``, ``policy`` or ``fallback``).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rewriter import prompts
from rewriter.engines.base import Engine, Generation, mean_nll
from rewriter.records import GateStatus, Provenance, Row, Verdict
from rewriter.reward import Reward, group_rewards
from rewriter.specs import StrategySpec
from rewriter.verifiers import Verifier


@dataclass
class Candidate:
    text: str
    stage: Provenance
    generation: Generation
    verdict: Verdict | None = None
    nll: float | None = None  # QA-conditioned mean NLL under the frozen base
    reward: Reward | None = None

    @property
    def passed(self) -> bool:
        return self.verdict is not None and self.verdict.passed


@dataclass
class Decision:
    """What the strategy decided for one row."""

    row: Row
    provenance: Provenance
    target: str | None  # None: dropped
    candidates: list[Candidate] = field(default_factory=list)
    chosen: Candidate | None = None
    gate: Verdict | None = None  # the chosen candidate's verdict, or why the row fell back
    stage: str = ""  # the cascade stage that produced the row (auto); empty: the provenance says it


@dataclass
class Context:
    engine: Engine
    verifier: Verifier
    spec: StrategySpec
    shard_seed: int = 0
    timers: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timers[phase] += time.perf_counter() - started


def run(rows: list[Row], ctx: Context) -> list[Decision]:
    """Apply ``ctx.spec.strategy`` to one shard; decisions come back in row order."""
    strategy = STRATEGIES[ctx.spec.strategy]
    return strategy(rows, ctx)


# -- the strategies ----------------------------------------------------------------------------------------------


def identity(rows: list[Row], ctx: Context) -> list[Decision]:
    return [Decision(r, Provenance.ORIGINAL, r.answer) for r in rows]


def self_distill(rows: list[Row], ctx: Context) -> list[Decision]:
    return _rewrite_once(rows, ctx, ctx.spec.self_distill_template, Provenance.REWRITTEN, banned=True)


def policy(rows: list[Row], ctx: Context) -> list[Decision]:
    return _rewrite_once(rows, ctx, ctx.spec.rewrite_template, Provenance.REWRITTEN, adapter=ctx.spec.adapter)


def guided_resolve(rows: list[Row], ctx: Context) -> list[Decision]:
    todo, decisions = _unverifiable_first(rows, ctx)
    decisions.update(_decide(todo, _resolve(todo, ctx), ctx))
    return [decisions[r.id] for r in rows]


# The stage names of the auto cascade, by the provenance of the candidate that won (or the fallback).
AUTO_STAGES = {
    Provenance.SELF: "self",
    Provenance.GUIDED: "guided",
    Provenance.REWRITTEN: "policy",
    Provenance.EXPERT_FALLBACK: "fallback",
}


def auto(rows: list[Row], ctx: Context) -> list[Decision]:
    """self -> guided -> policy (with ``spec.adapter``) -> fallback, each stage on what the earlier ones left."""
    spec = ctx.spec
    todo, decisions = _unverifiable_first(rows, ctx)
    groups = _resolve(todo, ctx)
    if spec.adapter is not None:
        unsolved = [i for i, cands in enumerate(groups) if not any(c.passed for c in cands)]
        rendered = [prompts.render(spec.rewrite_template, todo[i].question, todo[i].answer) for i in unsolved]
        third = _sample(ctx, rendered, spec.temperature, Provenance.REWRITTEN, stage=2, adapter=spec.adapter)
        _gate(ctx, [todo[i] for i in unsolved], third)
        for i, cands in zip(unsolved, third, strict=True):
            groups[i] = groups[i] + cands
    decisions.update(_decide(todo, groups, ctx))
    for decision in decisions.values():
        decision.stage = AUTO_STAGES[decision.provenance]
    return [decisions[r.id] for r in rows]


STRATEGIES: dict[str, Callable[[list[Row], Context], list[Decision]]] = {
    "identity": identity,
    "self_distill": self_distill,
    "guided_resolve": guided_resolve,
    "policy": policy,
    "auto": auto,
}

# -- shared steps ------------------------------------------------------------------------------------------------


def _resolve(todo: list[Row], ctx: Context) -> list[list[Candidate]]:
    """guided_resolve's two stages: K samples on x alone; K guided by y* for the rows none of those solved."""
    spec = ctx.spec
    qa = [prompts.render(_qa_template(ctx), r.question) for r in todo]
    first = _sample(ctx, qa, spec.temperature, Provenance.SELF, stage=0)
    _gate(ctx, todo, first)
    unsolved = [i for i, cands in enumerate(first) if not any(c.passed for c in cands)]
    guided_prompts = [
        prompts.render(spec.guided_template, todo[i].question, todo[i].answer) for i in unsolved
    ]
    second = _sample(ctx, guided_prompts, spec.guided_temperature, Provenance.GUIDED, stage=1)
    _gate(ctx, [todo[i] for i in unsolved], second)
    groups = list(first)
    for i, cands in zip(unsolved, second, strict=True):
        groups[i] = groups[i] + cands
    return groups


def _qa_template(ctx: Context) -> str:
    return str(getattr(ctx.engine, "qa_template", prompts.QA_TEMPLATE))


def _rewrite_once(
    rows: list[Row],
    ctx: Context,
    template: str,
    provenance: Provenance,
    *,
    banned: bool = False,
    adapter: str | None = None,
) -> list[Decision]:
    todo, decisions = _unverifiable_first(rows, ctx)
    rendered = [prompts.render(template, r.question, r.answer) for r in todo]
    groups = _sample(ctx, rendered, ctx.spec.temperature, provenance, stage=0, adapter=adapter)
    _gate(ctx, todo, groups, banned=ctx.spec.banned_phrases if banned else ())
    decisions.update(_decide(todo, groups, ctx))
    return [decisions[r.id] for r in rows]


def _unverifiable_first(rows: list[Row], ctx: Context) -> tuple[list[Row], dict[str, Decision]]:
    """Rows whose gold cannot be parsed are never gated: they fall back at once, marked unverifiable."""
    with ctx.timed("verify"):
        checks = ctx.verifier.verify_many([r.gold_or_answer for r in rows], [r.gold_or_answer for r in rows])
    todo, decisions = [], {}
    for row, verdict in zip(rows, checks, strict=True):
        if verdict.status is GateStatus.UNVERIFIABLE:
            decisions[row.id] = _fallback(row, ctx, [], verdict)
        else:
            todo.append(row)
    return todo, decisions


def _sample(
    ctx: Context,
    rendered: list[str],
    temperature: float,
    stage_provenance: Provenance,
    *,
    stage: int,
    adapter: str | None = None,
) -> list[list[Candidate]]:
    if not rendered:
        return []
    spec = ctx.spec
    with ctx.timed("generate"):
        generations = ctx.engine.generate(
            rendered,
            n=spec.k,
            temperature=temperature,
            top_p=spec.top_p,
            max_new_tokens=spec.max_new_tokens,
            seed=spec.seed * 1_000 + ctx.shard_seed * 10 + stage,
            adapter=adapter,
        )
    return [[Candidate(g.text.strip(), stage_provenance, g) for g in row] for row in generations]


def _gate(
    ctx: Context, rows: list[Row], groups: list[list[Candidate]], banned: tuple[str, ...] | list[str] = ()
) -> None:
    flat = [(row, c) for row, cands in zip(rows, groups, strict=True) for c in cands]
    with ctx.timed("verify"):
        verdicts = ctx.verifier.verify_many(
            [c.text for _, c in flat], [row.gold_or_answer for row, _ in flat]
        )
    for (_, cand), verdict in zip(flat, verdicts, strict=True):
        leaked = next((p for p in banned if p in cand.text.lower()), None)
        if not cand.generation.finished:
            verdict = Verdict(GateStatus.FAIL, verdict.predicted, verdict.gold, "cut at max_new_tokens")
        elif leaked and verdict.passed:
            verdict = Verdict(GateStatus.FAIL, verdict.predicted, verdict.gold, f"banned phrase {leaked!r}")
        cand.verdict = verdict


def _decide(rows: list[Row], groups: list[list[Candidate]], ctx: Context) -> dict[str, Decision]:
    selection = ctx.spec.chosen_selection
    if selection in ("min_nll", "reward"):
        _score_passing(rows, groups, ctx)
    if selection == "reward":
        _reward(rows, groups, ctx)
    out: dict[str, Decision] = {}
    for row, cands in zip(rows, groups, strict=True):
        passing = [c for c in cands if c.passed]
        if not passing:
            out[row.id] = _fallback(row, ctx, cands, cands[-1].verdict if cands else None)
            continue
        if selection == "first":
            chosen = passing[0]
        elif selection == "min_nll":
            chosen = min(passing, key=lambda c: c.nll if c.nll is not None else float("inf"))
        else:
            chosen = max(passing, key=lambda c: c.reward.total if c.reward else 0.0)
        out[row.id] = Decision(row, chosen.stage, chosen.text, cands, chosen, chosen.verdict)
    return out


def _score_passing(rows: list[Row], groups: list[list[Candidate]], ctx: Context) -> None:
    flat = [(row, c) for row, cands in zip(rows, groups, strict=True) for c in cands if c.passed]
    if not flat:
        return
    with ctx.timed("score"):
        logprobs = ctx.engine.score(
            [r.question for r, _ in flat], [c.text for _, c in flat], conditioning="qa"
        )
    for (_, cand), lp in zip(flat, logprobs, strict=True):
        cand.nll = mean_nll(lp)


def _reward(rows: list[Row], groups: list[list[Candidate]], ctx: Context) -> None:
    passing = [c for cands in groups for c in cands if c.passed]
    with ctx.timed("score"):
        vectors = ctx.engine.embed([c.text for c in passing]) if passing else []
    by_candidate = {id(c): v for c, v in zip(passing, vectors, strict=True)}
    blank = [0.0] * (
        len(vectors[0]) if vectors else 1
    )  # infeasible candidates take no part in the group terms
    for cands in groups:
        rewards = group_rewards(
            [c.passed for c in cands],
            [c.nll for c in cands],
            [by_candidate.get(id(c), blank) for c in cands],
            lambda_dist=ctx.spec.lambda_dist,
            lambda_div=ctx.spec.lambda_div,
        )
        for cand, reward in zip(cands, rewards, strict=True):
            cand.reward = reward


def _fallback(row: Row, ctx: Context, cands: list[Candidate], verdict: Verdict | None) -> Decision:
    target = row.answer if ctx.spec.fallback == "expert" else None
    return Decision(row, Provenance.EXPERT_FALLBACK, target, cands, None, verdict)


def describe(decision: Decision) -> dict[str, Any]:
    """The gate part of a row's provenance record."""
    v = decision.gate
    return {
        "status": v.status.value if v else None,
        "predicted": v.predicted if v else None,
        "gold": v.gold if v else None,
        "reason": v.reason if v else "",
    }
