"""The warm start of the GRPO rewriting policy: one LoRA SFT run that teaches a fresh adapter to write each accepted
rewrite of a rewrite output (e.g. guided_resolve's) from the rewrite prompt of (x, y*); GRPO then goes on from it.

On the toy, GRPO from scratch collapsed at a 0.51-0.67 pass rate (most groups all-pass or all-fail: no advantage
left); after the warm start 98% of the policy's rewrites pass (docs/results/README.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rewriter import prompts
from rewriter.records import Provenance, Row
from training.grpo_spec import GRPOSpec
from training.runtime import load_rows
from training.sft import SFTSpec, train_sft

ACCEPTED = frozenset({Provenance.SELF, Provenance.GUIDED, Provenance.REWRITTEN})


def warm_start_rows(rows: Sequence[Row], rewritten: Sequence[Row], template: str) -> list[Row]:
    """The warm start's SFT examples: for each row with an accepted rewrite in ``rewritten`` (matched by id), the
    rewrite prompt of (x, y*) → that rewrite. Expert fallbacks and rows the rewrite does not hold are left out.

    >>> rows = [Row("a", "2+2", "two and two make four"), Row("b", "3+3", "six")]
    >>> done = [Row("a", "2+2", "2+2=4 #4", raw={"meta": {"provenance": "guided"}}),
    ...         Row("b", "3+3", "six", raw={"meta": {"provenance": "expert_fallback"}})]
    >>> [(r.question, r.answer) for r in warm_start_rows(rows, done, "{question} | {reference} ->")]
    [('2+2 | two and two make four ->', '2+2=4 #4')]
    """
    accepted = {r.id: r.answer for r in rewritten if _provenance(r) in ACCEPTED}
    return [
        Row(
            row.id,
            prompts.render(template, row.question, row.answer),
            accepted[row.id],
            schema="prompt_completion",
        )
        for row in rows
        if row.id in accepted
    ]


def _provenance(row: Row) -> str | None:
    meta = row.raw.get("meta")
    return meta.get("provenance") if isinstance(meta, dict) else None


def warm_start(rows: Sequence[Row], model_path: Path, out: Path, spec: GRPOSpec) -> dict[str, Any]:
    """LoRA SFT of a fresh adapter on the accepted rewrites of ``spec.warm_start``; the adapter lands in ``out``."""
    assert spec.warm_start is not None
    examples = warm_start_rows(rows, load_rows(spec.warm_start), spec.rewrite_template)
    if not examples:
        raise ValueError(
            f"the warm start {spec.warm_start} holds no accepted rewrite (provenance self, guided or rewritten) of "
            "the training rows' ids: pass the output of a rewrite of this same file"
        )
    batch = 16
    steps = max(1, math.ceil(spec.warm_start_epochs * len(examples) / batch))
    sft = SFTSpec(
        lora=True,
        lora_r=spec.lora_r,
        lora_alpha=spec.lora_alpha,
        lr=spec.warm_start_lr,
        steps=steps,
        batch_size=batch,
        seed=spec.seed,
    )
    result = train_sft(examples, model_path, out, sft)
    losses = [m["loss"] for m in result.metrics if "loss" in m]
    return {
        "rows": len(examples),
        "of": len(rows),
        "steps": steps,
        "loss_first": losses[0] if losses else None,
        "loss_last": losses[-1] if losses else None,
        "seconds": round(result.train_seconds, 1),
    }
