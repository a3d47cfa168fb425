"""The forgetting table's aggregation: mean ± std over seeds, the cut vs expert SFT, the NLL-forgetting rank
correlation and the rewriting samplers' figures, from hand-made arm results (no model runs here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rewriter.suites import RETENTION_SUITES
from training.experiment_config import ArmResult, ExperimentConfig
from training.experiment_report import summarize, to_markdown, write


def arm(
    name: str, seed: int, retention: float, forgetting: float, nll: float | None, **rewrite: Any
) -> ArmResult:
    accuracy = {"downstream": 0.5, **{s: retention for s in RETENTION_SUITES}}
    comparison = {"forgetting_abs": forgetting, "forgetting_rel": forgetting / 100, "gain": 0.1}
    targets = None if nll is None else {"mean": nll, "median": nll / 2, "over_1nat": 0.1}
    return ArmResult(name, seed, accuracy, comparison, targets, rewrite or None)


def candidates(pass_rate: float, nll: float) -> dict[str, Any]:
    return {"sampled": 100, "passed": int(pass_rate * 100), "pass_rate": pass_rate,
            "nll_passing": {"mean": nll, "median": nll}}  # fmt: skip


RESULTS = [
    arm("base", 0, 1.0, 0.0, None),
    arm("base", 1, 1.0, 0.0, None),
    arm("sft-expert", 0, 0.4, 60.0, 5.5),
    arm("sft-expert", 1, 0.3, 70.0, 5.6),
    *[
        arm(
            "policy-grpo+sft",
            s,
            0.9,
            f,
            0.3,
            acceptance_rate=0.9,
            fallback_rate=0.1,
            candidates=candidates(p, 0.4),
        )  # fmt: skip
        for s, f, p in ((0, 6.0, 0.5), (1, 7.0, 0.6))
    ],
    *[
        arm(
            "policy-prompt+sft",
            s,
            0.5,
            f,
            4.0,
            acceptance_rate=0.2,
            fallback_rate=0.8,
            candidates=candidates(0.05, 2.0),
        )  # fmt: skip
        for s, f in ((0, 50.0), (1, 52.0))
    ],
]


def test_summary_aggregates_over_seeds_and_compares_with_expert_sft() -> None:
    summary = summarize(RESULTS, ExperimentConfig(seeds=[0, 1]), "rewriter experiment", 60.0)
    arms = summary["arms"]
    assert arms["sft-expert"]["forgetting_abs"] == {"mean": 65.0, "std": 5.0}
    assert arms["policy-grpo+sft"]["forgetting_cut_vs_expert_sft"] == pytest.approx(1 - 6.5 / 65)
    assert arms["policy-grpo+sft"]["candidate_pass_rate"] == {"mean": 0.55, "std": 0.05}
    assert arms["policy-prompt+sft"]["candidate_nll"] == {"mean": 2.0, "std": 0.0}
    assert "candidate_pass_rate" not in arms["sft-expert"]  # expert data has no sampler
    # targets' NLL and forgetting rise together here: (0.3, 6-7), (4.0, 50-52), (5.5-5.6, 60-70)
    assert summary["nll_vs_forgetting"]["spearman"] > 0.9 and summary["nll_vs_forgetting"]["points"] == 6


def test_markdown_and_files(tmp_path: Path) -> None:
    summary = summarize(RESULTS, ExperimentConfig(seeds=[0, 1]), "rewriter experiment", 60.0)
    text = to_markdown(summary)
    assert "| policy-grpo+sft | 0.550 ± 0.050 | 0.400 ± 0.000 |" in text  # the samplers' table
    assert "| sft-expert |" in text and "90%" in text  # policy-grpo's cut vs expert SFT
    write(summary, RESULTS, tmp_path)
    for name in (
        "table.md",
        "table.json",
        "accuracy_vs_forgetting.png",
        "retention_per_skill.png",
        "target_nll.png",
    ):
        assert (tmp_path / name).stat().st_size > 0
