"""Aggregate the experiment's arms over seeds and write table.md, table.json and the plots."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from rewriter.suites import RETENTION_SUITES
from training.experiment_config import ArmResult, ExperimentConfig


def _ms(values: list[float]) -> dict[str, float]:
    return {
        "mean": round(statistics.fmean(values), 4),
        "std": round(statistics.pstdev(values), 4) if len(values) > 1 else 0.0,
    }


def summarize(
    results: list[ArmResult], cfg: ExperimentConfig, command: str, seconds: float
) -> dict[str, Any]:
    by_arm: dict[str, list[ArmResult]] = defaultdict(list)
    for r in results:
        by_arm[r.arm].append(r)
    arms: dict[str, Any] = {}
    for name, runs in by_arm.items():
        arm: dict[str, Any] = {
            "downstream": _ms([r.accuracy[cfg.task] for r in runs]),
            "retention": _ms([statistics.fmean(r.accuracy[s] for s in RETENTION_SUITES) for r in runs]),
            "forgetting_abs": _ms([r.comparison["forgetting_abs"] for r in runs]),
            "forgetting_rel": _ms([r.comparison["forgetting_rel"] for r in runs]),
            "gain": _ms([r.comparison["gain"] for r in runs]),
            "per_skill": {s: _ms([r.accuracy[s] for r in runs]) for s in RETENTION_SUITES},
            "seconds": _ms([r.seconds for r in runs]),
        }
        if runs[0].targets is not None:
            arm["target_nll"] = {
                key: _ms([float(r.targets[key]) for r in runs if r.targets and r.targets[key] is not None])
                for key in ("mean", "median", "over_1nat")
            }
        if runs[0].rewrite is not None:
            arm["acceptance"] = _ms([r.rewrite["acceptance_rate"] for r in runs if r.rewrite])
            arm["fallback"] = _ms([r.rewrite["fallback_rate"] for r in runs if r.rewrite])
            candidates = [r.rewrite["candidates"] for r in runs if r.rewrite and r.rewrite.get("candidates")]
            if candidates:
                arm["candidate_pass_rate"] = _ms([c["pass_rate"] for c in candidates])
                nll = [c["nll_passing"]["mean"] for c in candidates if c["nll_passing"]["mean"] is not None]
                arm["candidate_nll"] = _ms(nll) if nll else None
        arms[name] = arm
    summary: dict[str, Any] = {
        "command": command,
        "task": cfg.task,
        "seeds": cfg.seeds,
        "config": cfg.model_dump(),
        "seconds": round(seconds, 1),
        "arms": arms,
        "nll_vs_forgetting": _rank_correlation(results),
    }
    expert = arms.get("sft-expert")
    if expert and expert["forgetting_abs"]["mean"] > 0:
        for arm in arms.values():
            arm["forgetting_cut_vs_expert_sft"] = round(
                1 - arm["forgetting_abs"]["mean"] / expert["forgetting_abs"]["mean"], 4
            )
    return summary


def _rank_correlation(results: list[ArmResult]) -> dict[str, Any]:
    """Spearman correlation between the mean NLL of an arm's training targets and its forgetting (points)."""
    from scipy.stats import spearmanr

    points = [(r.targets["mean"], r.comparison["forgetting_abs"]) for r in results if r.targets]
    if len(points) < 3:
        return {"spearman": None, "p_value": None, "points": len(points)}
    rho, p = spearmanr([x for x, _ in points], [y for _, y in points])
    return {"spearman": round(float(rho), 4), "p_value": float(p), "points": len(points)}


def _fmt(ms: dict[str, float] | None, scale: float = 1.0, digits: int = 3) -> str:
    if not ms:
        return "–"
    return f"{ms['mean'] * scale:.{digits}f} ± {ms['std'] * scale:.{digits}f}"


def to_markdown(summary: dict[str, Any]) -> str:
    corr = summary["nll_vs_forgetting"]
    lines = [
        f"# Forgetting table — task `{summary['task']}`",
        "",
        f"Command: `{summary['command']}`  ",
        f"Seeds: {summary['seeds']} (mean ± std over seeds); wall time {summary['seconds'] / 60:.1f} min.",
        "",
        "| arm | downstream acc | retention acc | forgetting (pts) | forgetting (rel) | cut vs expert SFT "
        "| target NLL mean | median | tokens > 1 nat | acceptance |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, arm in summary["arms"].items():
        nll = arm.get("target_nll", {})
        cut = arm.get("forgetting_cut_vs_expert_sft")
        lines.append(
            f"| {name} | {_fmt(arm['downstream'])} | {_fmt(arm['retention'])} | {_fmt(arm['forgetting_abs'], digits=1)} "
            f"| {_fmt(arm['forgetting_rel'], 100, 1)}% | {'–' if cut is None or name == 'base' else f'{cut:.0%}'} "
            f"| {_fmt(nll.get('mean'))} | {_fmt(nll.get('median'))} | {_fmt(nll.get('over_1nat'))} "
            f"| {_fmt(arm.get('acceptance'), digits=2)} |"
        )
    samplers = [(name, arm) for name, arm in summary["arms"].items() if "candidate_pass_rate" in arm]
    if samplers:
        lines += [
            "",
            "The rewriting samplers before selection (every candidate drawn, k per row per stage): the share that "
            "passed the gate and the mean NLL of those under the base. Selection (best of k) can hide a weak sampler; "
            "this is what training the rewriting policy changed.",
            "",
            "| arm | candidates passing | their NLL mean |",
            "|---|---|---|",
            *[
                f"| {name} | {_fmt(arm['candidate_pass_rate'])} | {_fmt(arm.get('candidate_nll'))} |"
                for name, arm in samplers
            ],
        ]
    lines += [
        "",
        f"Rank correlation (Spearman) between the mean NLL of the training targets under the base and forgetting, "
        f"over {corr['points']} (arm, seed) points: **{corr['spearman']}** (p = {corr['p_value']}).",
        "",
        "Retention per base skill (accuracy):",
        "",
        "| arm | " + " | ".join(RETENTION_SUITES) + " |",
        "|---|" + "---|" * len(RETENTION_SUITES),
    ]
    for name, arm in summary["arms"].items():
        lines.append(
            f"| {name} | " + " | ".join(f"{arm['per_skill'][s]['mean']:.3f}" for s in RETENTION_SUITES) + " |"
        )
    lines.append("")
    return "\n".join(lines)


def write(summary: dict[str, Any], results: list[ArmResult], out_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "table.json").write_text(
        json.dumps({**summary, "runs": [vars(r) for r in results]}, indent=2, default=str) + "\n"
    )
    (out_dir / "table.md").write_text(to_markdown(summary))
    caption = f"{summary['command']}  (seeds {summary['seeds']})"
    arms = summary["arms"]

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, arm in arms.items():
        ax.errorbar(
            arm["forgetting_abs"]["mean"], arm["downstream"]["mean"],
            xerr=arm["forgetting_abs"]["std"], yerr=arm["downstream"]["std"], fmt="o", capsize=3, label=name,
        )  # fmt: skip
    ax.set_xlabel("forgetting: mean drop in base-skill accuracy (points)")
    ax.set_ylabel(f"downstream accuracy ({summary['task']})")
    ax.legend(fontsize=7)
    ax.set_title("Downstream accuracy vs forgetting", fontsize=10)
    fig.text(0.01, 0.01, caption, fontsize=6)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(out_dir / "accuracy_vs_forgetting.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / max(1, len(arms))
    for i, (name, arm) in enumerate(arms.items()):
        xs = [j + i * width for j in range(len(RETENTION_SUITES))]
        ax.bar(xs, [arm["per_skill"][s]["mean"] for s in RETENTION_SUITES], width, label=name)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(RETENTION_SUITES))], RETENTION_SUITES)
    ax.set_ylabel("accuracy")
    ax.set_title("Retention per base skill", fontsize=10)
    ax.legend(fontsize=6, ncol=3)
    fig.text(0.01, 0.01, caption, fontsize=6)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(out_dir / "retention_per_skill.png", dpi=110)
    plt.close(fig)

    with_nll = {n: a for n, a in arms.items() if "target_nll" in a}
    fig, ax = plt.subplots(figsize=(7, 3.8))
    names = list(with_nll)
    ax.bar(names, [with_nll[n]["target_nll"]["mean"]["mean"] for n in names], label="mean")
    ax.bar(names, [with_nll[n]["target_nll"]["median"]["mean"] for n in names], width=0.4, label="median")
    ax.set_ylabel("per-token NLL under the base (nats)")
    ax.set_title("Training targets under the base model", fontsize=10)
    ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    ax.legend()
    fig.text(0.01, 0.01, caption, fontsize=6)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(out_dir / "target_nll.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in arms:
        runs = [r for r in results if r.arm == name and r.curve]
        if not runs:
            continue
        curve = sorted(runs[0].curve, key=lambda p: p["step"])
        ax.plot([p["retention"] for p in curve], [p["downstream"] for p in curve], marker=".", label=name)
    ax.set_xlabel("retention accuracy (mean over base skills)")
    ax.set_ylabel("downstream accuracy")
    ax.set_title("Downstream vs retention over training steps (first seed)", fontsize=10)
    ax.legend(fontsize=7)
    fig.text(0.01, 0.01, caption, fontsize=6)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(out_dir / "curves.png", dpi=110)
    plt.close(fig)
