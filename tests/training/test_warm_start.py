"""The warm start: LoRA SFT on a rewrite output's accepted rewrites (fallbacks left out) before GRPO, refused for a
rewrite of other rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rewriter.engines.hf import HFEngine
from rewriter.formats import output_record
from rewriter.prompts import REWRITE_TEMPLATE
from rewriter.records import Row
from tests.factories import downstream_rows
from training.grpo import GRPOSpec, train_grpo

TOY = "toy"
pytestmark = pytest.mark.usefixtures("one_thread")


def write_rewrite_output(path: Path, rows: list[Row], targets: list[str], provenance: list[str]) -> Path:
    """A rewrite output file as the pipeline writes it: the rows' ids, the chosen targets, meta.provenance."""
    with path.open("w") as fh:
        for row, target, prov in zip(rows, targets, provenance, strict=True):
            record = output_record(row, target, {"provenance": prov, "strategy": "guided_resolve"})
            fh.write(json.dumps(record) + "\n")
    return path


def test_warm_start_trains_the_adapter_on_accepted_rewrites_before_grpo(
    tmp_path: Path, base: HFEngine
) -> None:
    rows = downstream_rows(16)
    house = downstream_rows(16, house=True)
    provenance = ["guided"] * 12 + ["expert_fallback"] * 4  # fallbacks are prose: they must not be learned
    targets = [h.answer for h in house[:12]] + [r.answer for r in rows[12:]]
    rewritten = write_rewrite_output(tmp_path / "rewritten.jsonl", rows, targets, provenance)
    spec = GRPOSpec(
        steps=1, prompts_per_step=2, num_generations=4, max_completion_length=48,
        warm_start=str(rewritten), warm_start_epochs=4,
    )  # fmt: skip
    out = tmp_path / "policy"
    train_grpo(rows, TOY, out, spec)

    warm = json.loads((out / "training.json").read_text())["result"]["warm_start"]
    assert (warm["rows"], warm["of"], warm["steps"]) == (12, 16, 3)
    assert warm["loss_last"] < warm["loss_first"]
    assert not any((out / d).exists() for d in (".warm-start", "ref", ".snapshots"))
    # The policy now finds the accepted rewrites likelier, from the rewrite prompt, than the untrained backbone did.
    prompts = [REWRITE_TEMPLATE.format(question=r.question, reference=r.answer) for r in rows[:12]]

    def mean_logprob(adapter: str | None) -> float:
        scored = base.score(prompts, targets[:12], adapter=adapter)
        return float(np.mean([np.mean(s) for s in scored]))

    assert mean_logprob(str(out)) > mean_logprob(None) + 0.1


def test_warm_start_refuses_a_rewrite_of_other_rows(tmp_path: Path) -> None:
    rows = downstream_rows(4)
    others = [Row(f"other-{i}", r.question, r.answer, r.gold) for i, r in enumerate(rows)]
    rewritten = write_rewrite_output(
        tmp_path / "other.jsonl", others, [r.answer for r in rows], ["guided"] * 4
    )
    spec = GRPOSpec(steps=1, prompts_per_step=2, warm_start=str(rewritten))
    with pytest.raises(ValueError, match="no accepted rewrite"):
        train_grpo(rows, TOY, tmp_path / "policy", spec)
    with pytest.raises(ValueError, match="rewriting policy"):
        GRPOSpec(mode="task", warm_start=str(rewritten))
