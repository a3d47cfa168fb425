"""Evaluation: greedy decoding on task suites and on a team's held-out files through their verifiers; gain and
forgetting vs a base (DESIGN §2.4, docs/evaluation.md).

Forgetting over retention suites T_j: absolute ``Δd = mean_j [A_base(T_j) − A_tuned(T_j)]`` in points and relative
``Δd / mean_j A_base(T_j)``. Gain on the downstream suite T: ``Δg = A_tuned(T) − A_base(T)``.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from rewriter.engines.base import Conditioning, Engine, render_conversation
from rewriter.records import GateStatus, Row
from rewriter.suites import RETENTION_SUITES, get_suite
from rewriter.verifiers import Verifier

DEFAULT_N = 200  # test problems per suite: 1,200 prompts over six skills take 3-8 s on 2 cores
MAX_NEW_TOKENS = 96  # the longest house-style answer (3-digit word problem) is ~40 characters


@dataclass
class SuiteResult:
    suite: str
    accuracy: float
    n: int  # rows graded (unverifiable rows excluded)
    samples: list[dict[str, str]] = field(default_factory=list)  # a few (prompt, output, gold) for eyeballing
    unverifiable: int = 0  # rows whose gold answer the verifier could not parse: neither right nor wrong


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


def row_prompt(row: Row, tokenizer: object) -> tuple[str, Conditioning]:
    """How a held-out row is put to the model, as SFT will have shown it: a ``qa`` row's question in the QA template,
    a ``prompt_completion`` row's prompt as written, a ``messages`` row's conversation up to its last assistant turn
    (system prompt and earlier turns included) in the model's chat template."""
    if row.schema == "qa":
        return row.question, "qa"
    if row.schema == "prompt_completion":
        return row.question, "raw"
    turns = row.raw["messages"]
    last = max(i for i, turn in enumerate(turns) if turn["role"] == "assistant")
    return render_conversation(tokenizer, turns[:last]), "raw"


def evaluate_rows(
    engine: Engine,
    name: str,
    rows: list[Row],
    verifier: Verifier,
    *,
    adapter: str | None = None,
    max_new_tokens: int = 256,
    keep_samples: int = 3,
) -> SuiteResult:
    """Greedy accuracy on a team's held-out rows: each row's output gated against its ``gold`` (else its target)
    by ``verifier``. Rows whose gold cannot be parsed are counted apart (``unverifiable``), not graded."""
    tokenizer = getattr(engine, "tokenizer", None)
    prompts = [row_prompt(row, tokenizer) for row in rows]
    texts = [""] * len(rows)
    for conditioning in ("qa", "raw"):  # one batched call per conditioning
        picked = [i for i, (_, c) in enumerate(prompts) if c == conditioning]
        if not picked:
            continue
        outputs = engine.generate(
            [prompts[i][0] for i in picked],
            n=1,
            temperature=0.0,
            max_new_tokens=max_new_tokens,
            conditioning=conditioning,
            adapter=adapter,
        )
        for i, out in zip(picked, outputs, strict=True):
            texts[i] = out[0].text
    verdicts = verifier.verify_many(texts, [row.gold_or_answer for row in rows])
    graded = [v for v in verdicts if v.status is not GateStatus.UNVERIFIABLE]
    samples = [
        {"prompt": prompt, "output": text, "gold": row.gold_or_answer}
        for (prompt, _), text, row in list(zip(prompts, texts, rows, strict=True))[:keep_samples]
    ]
    accuracy = sum(v.passed for v in graded) / len(graded) if graded else 0.0
    return SuiteResult(name, accuracy, len(graded), samples, unverifiable=len(verdicts) - len(graded))


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
    retention = [
        s for s in (RETENTION_SUITES if retention is None else retention) if s in base and s in tuned
    ]
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
