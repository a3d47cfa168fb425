"""Evaluation: greedy decoding on task suites through their verifiers; gain and forgetting vs a base (DESIGN §2.4).

Forgetting over retention suites T_j: absolute ``Δd = mean_j [A_base(T_j) − A_tuned(T_j)]`` in points and relative
``Δd / mean_j A_base(T_j)``. Gain on the downstream suite T: ``Δg = A_tuned(T) − A_base(T)``.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from rewriter.engines.base import Engine
from rewriter.suites import RETENTION_SUITES, get_suite

DEFAULT_N = 200  # test problems per suite: 1,200 prompts over six skills take 3-8 s on 2 cores
MAX_NEW_TOKENS = 96  # the longest house-style answer (3-digit word problem) is ~40 characters


@dataclass
class SuiteResult:
    suite: str
    accuracy: float
    n: int
    samples: list[dict[str, str]] = field(default_factory=list)  # a few (prompt, output, gold) for eyeballing


def evaluate(
    engine: Engine,
    suites: list[str],
    *,
    n: int = DEFAULT_N,
    seed: int = 0,
    adapter: str | None = None,
    keep_samples: int = 3,
) -> dict[str, SuiteResult]:
    """Greedy accuracy of the model on the test split of each suite; all suites go through one batched call."""
    examples = {name: get_suite(name).examples("test", n, seed, allow_fewer=True) for name in suites}
    flat = [(name, ex) for name, exs in examples.items() for ex in exs]
    outputs = engine.generate(
        [ex.model_input for _, ex in flat],
        n=1,
        temperature=0.0,
        max_new_tokens=MAX_NEW_TOKENS,
        adapter=adapter,
    )
    results: dict[str, SuiteResult] = {}
    for name in suites:
        suite = get_suite(name)
        rows = [(ex, out[0].text) for (sname, ex), out in zip(flat, outputs, strict=True) if sname == name]
        correct = [suite.check(text, ex.gold).passed for ex, text in rows]
        samples = [
            {"prompt": ex.model_input, "output": text, "gold": ex.gold} for ex, text in rows[:keep_samples]
        ]
        results[name] = SuiteResult(name, sum(correct) / len(correct), len(correct), samples)
    return results


@dataclass
class Comparison:
    """A tuned model against its base: downstream gain and retention forgetting."""

    downstream: dict[str, dict[str, float]]  # suite -> {base, tuned, gain}
    retention: dict[str, dict[str, float]]  # suite -> {base, tuned, drop}
    forgetting_abs: float  # points (0-100)
    forgetting_rel: float  # fraction of the base's retention accuracy lost
    gain: float  # mean downstream gain, points

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare(
    base: dict[str, SuiteResult],
    tuned: dict[str, SuiteResult],
    downstream: list[str],
    retention: list[str] | None = None,
) -> Comparison:
    retention = [s for s in (retention or RETENTION_SUITES) if s in base and s in tuned]
    down = {
        s: {
            "base": base[s].accuracy,
            "tuned": tuned[s].accuracy,
            "gain": 100 * (tuned[s].accuracy - base[s].accuracy),
        }
        for s in downstream
    }
    ret = {
        s: {
            "base": base[s].accuracy,
            "tuned": tuned[s].accuracy,
            "drop": 100 * (base[s].accuracy - tuned[s].accuracy),
        }
        for s in retention
    }
    drop = statistics.fmean(r["drop"] for r in ret.values()) if ret else 0.0
    base_mean = statistics.fmean(100 * r["base"] for r in ret.values()) if ret else 0.0
    gain = statistics.fmean(d["gain"] for d in down.values()) if down else 0.0
    return Comparison(down, ret, drop, drop / base_mean if base_mean else 0.0, gain)
