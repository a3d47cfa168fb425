"""The rewrite report: what was accepted, what fell back, and how far the targets moved toward the model.

Forgetting follows the *mean* NLL of the training targets under the base, dominated by the few surprising tokens
that carry the gradient (DESIGN §4.1) — so the report shows the mean, the median and the share of target tokens
above 1 nat, before and after, which predict forgetting before any training is spent.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from rewriter import forecast
from rewriter.diversity import distinct_n
from rewriter.records import Provenance

MODEL_WRITTEN = {Provenance.SELF.value, Provenance.GUIDED.value, Provenance.REWRITTEN.value}


def _stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "median": None}
    return {"mean": round(statistics.fmean(values), 4), "median": round(statistics.median(values), 4)}


def _side(metas: list[dict[str, Any]], side: str) -> dict[str, Any]:
    nll = [m["nll"][side] for m in metas if "nll" in m]
    tokens = sum(x["tokens"] for x in nll)
    return {
        "qa": _stats([x["qa"] for x in nll]),
        "chat": _stats([x["chat"] for x in nll]),
        "tokens_over_1nat": round(sum(x["over_1nat"] for x in nll) / tokens, 4) if tokens else None,
        "length_tokens": _stats([float(x["tokens"]) for x in nll]),
    }


# When the forecast or the fallback share reaches these, the report lists the levers (issue 15).
HIGH_FORGETTING_POINTS = 20.0
HIGH_FALLBACK_SHARE = 0.2


def _mean_nll(metas: list[dict[str, Any]], keep: set[str] | None = None) -> float | None:
    values = [
        m["nll"]["chosen"]["qa"]
        for m in metas
        if "nll" in m and (keep is None or m.get("provenance") in keep)
    ]
    return statistics.fmean(values) if values else None


def forgetting_forecast(metas: list[dict[str, Any]], fallback_mode: str = "expert") -> dict[str, Any]:
    """The forecast for SFT on the rows this rewrite keeps, the same with ``fallback: drop``, and — when either the
    forecast or the fallback share is high — the levers that exist and what each costs.

    >>> row = lambda p, nll: {"provenance": p, "nll": {"chosen": {"qa": nll}}}
    >>> f = forgetting_forecast([row("self", 0.2)] * 3 + [row("expert_fallback", 5.6)])
    >>> f["forecast"]["forgetting_points"], f["if_fallback_dropped"]["forgetting_points"]
    (19.9, 6.2)
    >>> [lever["lever"] for lever in f["levers"]]
    ['fallback: drop', 'trained policy', 'replay', 'token weights']
    """
    rows = len(metas)
    fallback = sum(1 for m in metas if m.get("provenance") == Provenance.EXPERT_FALLBACK.value)
    written = MODEL_WRITTEN | {Provenance.ORIGINAL.value}
    kept = _mean_nll(metas, written if fallback_mode == "drop" else None)
    main = forecast.forecast(kept)
    dropped = forecast.forecast(_mean_nll(metas, written)) if fallback and fallback_mode != "drop" else None
    share = fallback / rows if rows else 0.0
    high = share >= HIGH_FALLBACK_SHARE or (
        main is not None and main["forgetting_points"] >= HIGH_FORGETTING_POINTS
    )
    levers: list[dict[str, str]] = []
    if high:
        if dropped is not None:
            levers.append(
                {
                    "lever": "fallback: drop",
                    "how": "rewrite again with settings.fallback = 'drop' (CLI: --fallback drop)",
                    "cost": f"{fallback} rows ({share:.0%}) leave the training set, and what they teach with them; "
                    f"forecast then {dropped['forgetting_points']} points",
                }
            )
        levers += [
            {
                "lever": "trained policy",
                "how": "train a rewriting policy (fine-tuning job, method grpo, warm_start_file = this output; CLI: "
                "rewriter train-rewriter), then rewrite with strategy auto and that adapter",
                "cost": "one GRPO job (100 steps took minutes on the toy, hours on a real model); it only wins rows "
                "whose answer the base can be taught to reach",
            },
            {
                "lever": "replay",
                "how": "fine-tune with replay_ratio (e.g. 0.3): the base's own samples on your prompts (or "
                "replay_file) mixed into the training set",
                "cost": "that share of every batch is replay, not your data: the downstream gain per step falls",
            },
            {
                "lever": "token weights",
                "how": "fine-tune with token_weighting 'mask' (tokens above token_nll_threshold = 2.5 nats under the "
                "base get no loss) or 'down' (their weight decays as exp(-(nll - 2.5)))",
                "cost": "one scoring pass of the base before training; the masked tokens are not learned, so on "
                "expert rows much of the expert's wording is not taught",
            },
        ]
    return {"forecast": main, "if_fallback_dropped": dropped, "levers": levers}


def build(
    metas: list[dict[str, Any]],
    targets: list[str],
    *,
    timers: dict[str, float],
    rows_computed: int,
    manifest: dict[str, Any],
) -> dict[str, Any]:
    """Aggregate the per-row provenance records of a run into its report (a JSON-ready dict)."""
    rows = len(metas)
    provenance = Counter(m.get("provenance") for m in metas)
    unverifiable = sum(1 for m in metas if (m.get("gate") or {}).get("status") == "unverifiable")
    accepted = sum(provenance[p] for p in MODEL_WRITTEN)
    fallback = provenance[Provenance.EXPERT_FALLBACK.value]
    by_provenance = {
        p: {
            "rows": count,
            "nll_before": _stats([m["nll"]["original"]["qa"] for m in metas if m.get("provenance") == p]),
            "nll_after": _stats([m["nll"]["chosen"]["qa"] for m in metas if m.get("provenance") == p]),
        }
        for p, count in sorted(provenance.items(), key=lambda kv: str(kv[0]))
    }
    sampled = sum(m.get("attempts", 0) for m in metas)
    passed = sum(m.get("passed", 0) for m in metas)
    candidate_nll = [x for m in metas for x in m.get("candidate_nll", [])]
    generate, score, verify = (timers.get(k, 0.0) for k in ("generate", "score", "verify"))
    busy = generate + score + verify
    spec = manifest.get("spec", {})
    return {
        "object": "rewrite.report",
        "strategy": spec.get("strategy"),
        "model": manifest.get("model"),
        "rows": rows,
        "rows_kept": len(targets),
        "rows_dropped": rows - len(targets),
        "provenance": dict(provenance),
        "acceptance_rate": round(accepted / rows, 4) if rows else None,
        "fallback_rate": round(fallback / rows, 4) if rows else None,
        "unverifiable": unverifiable,
        "nll_before": _side(metas, "original"),
        "nll_after": _side(metas, "chosen"),
        "by_provenance": by_provenance,
        # The sampler itself, before selection: how many of its candidates pass, and how far those are from the base.
        # Selection can hide a weak sampler (best of k); these show what training a policy changed.
        "candidates": {
            "sampled": sampled,
            "passed": passed,
            "pass_rate": round(passed / sampled, 4) if sampled else None,
            "nll_passing": _stats(candidate_nll),
        },
        "forgetting": forgetting_forecast(metas, spec.get("fallback", "expert")),
        "distinct_2": round(distinct_n(targets, 2), 4),
        "distinct_3": round(distinct_n(targets, 3), 4),
        "throughput": {
            "rows_computed": rows_computed,
            "seconds": round(timers.get("total", 0.0), 3),
            "rows_per_second": round(rows_computed / timers["total"], 3) if timers.get("total") else None,
            "share": {
                k: round(v / busy, 3) if busy else None
                for k, v in (("generate", generate), ("score", score), ("verify", verify))
            },
        },
        "spec": spec,
    }


def _candidates_line(candidates: dict[str, Any] | None) -> str:
    if not candidates or not candidates["sampled"]:
        return ""
    nll = candidates["nll_passing"]["mean"]
    return (
        f"Candidates: {candidates['passed']} of {candidates['sampled']} passed the gate "
        f"({candidates['pass_rate']:.3f})" + (f", mean NLL of those {nll:.3f}." if nll is not None else ".")
    )


def _forecast_lines(forgetting: dict[str, Any] | None) -> list[str]:
    if not forgetting or not forgetting.get("forecast"):
        return []
    f = forgetting["forecast"]
    low, high = f["calibrated_range"]
    lines = [
        f"Forgetting forecast for SFT on these targets: {f['forgetting_points']} points of base-skill accuracy "
        f"(interval {f['interval'][0]}–{f['interval'][1]}), from their mean NLL {f['mean_nll']:.3f}"
        + (
            "."
            if f["within_range"]
            else f", outside the calibrated {low:.2f}–{high:.2f} nats: expect at least as much as expert SFT."
        )
        + f" Calibrated on {f['setup']}.",
        "",
    ]
    if forgetting["levers"]:
        lines += ["Levers:", "", "| lever | how | cost |", "|---|---|---|"]
        lines += [f"| {x['lever']} | {x['how']} | {x['cost']} |" for x in forgetting["levers"]]
        lines.append("")
    return lines


def to_markdown(report: dict[str, Any]) -> str:
    before, after = report["nll_before"], report["nll_after"]

    def fmt(value: float | None) -> str:
        return "–" if value is None else f"{value:.3f}"

    lines = [
        f"# Rewrite report — {report['strategy']} on {report['model']}",
        "",
        f"{report['rows']} rows: {report['rows_kept']} kept, {report['rows_dropped']} dropped, "
        f"{report['unverifiable']} unverifiable. Acceptance {fmt(report['acceptance_rate'])}, "
        f"fallback {fmt(report['fallback_rate'])}.",
        _candidates_line(report.get("candidates")),
        "",
        "| provenance | rows | NLL before (mean) | NLL after (mean) |",
        "|---|---|---|---|",
        *[
            f"| {p} | {v['rows']} | {fmt(v['nll_before']['mean'])} | {fmt(v['nll_after']['mean'])} |"
            for p, v in report["by_provenance"].items()
        ],
        "",
        "Targets under the base model (per-token NLL, QA prompt):",
        "",
        "| | mean | median | share of tokens > 1 nat | chat mean | length (tokens) |",
        "|---|---|---|---|---|---|",
        *[
            f"| {name} | {fmt(s['qa']['mean'])} | {fmt(s['qa']['median'])} | {fmt(s['tokens_over_1nat'])} | "
            f"{fmt(s['chat']['mean'])} | {fmt(s['length_tokens']['mean'])} |"
            for name, s in (("before", before), ("after", after))
        ],
        "",
        *_forecast_lines(report.get("forgetting")),
        f"distinct-2 {fmt(report['distinct_2'])}, distinct-3 {fmt(report['distinct_3'])}. "
        f"Throughput {fmt(report['throughput']['rows_per_second'])} rows/s "
        f"(generate {fmt(report['throughput']['share']['generate'])}, score {fmt(report['throughput']['share']['score'])}, "
        f"verify {fmt(report['throughput']['share']['verify'])} of busy time).",
        "",
    ]
    return "\n".join(lines)


def write(report: dict[str, Any], metas: list[dict[str, Any]], directory: Path) -> list[Path]:
    """report.json, report.md and two PNG plots (NLL histograms before/after; provenance bars)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    paths = [
        directory / "report.json",
        directory / "report.md",
        directory / "nll.png",
        directory / "provenance.png",
    ]
    paths[0].write_text(json.dumps(report, indent=2) + "\n")
    paths[1].write_text(to_markdown(report))

    before = [m["nll"]["original"]["qa"] for m in metas if "nll" in m]
    after = [m["nll"]["chosen"]["qa"] for m in metas if "nll" in m]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    top = max(before + after + [1.0])
    bins = [top * i / 40 for i in range(41)]
    ax.hist(before, bins=bins, alpha=0.6, label=f"original (mean {statistics.fmean(before or [0]):.2f})")
    ax.hist(after, bins=bins, alpha=0.6, label=f"chosen (mean {statistics.fmean(after or [0]):.2f})")
    ax.set_xlabel("per-token NLL under the base (nats)")
    ax.set_ylabel("rows")
    ax.legend()
    ax.set_title("Targets under the base model, before and after rewriting")
    fig.tight_layout()
    fig.savefig(paths[2], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3))
    counts = report["provenance"]
    ax.bar(list(counts), list(counts.values()), color="#4a7ab5")
    ax.set_ylabel("rows")
    ax.set_title("Provenance of the output rows")
    fig.tight_layout()
    fig.savefig(paths[3], dpi=110)
    plt.close(fig)
    return paths
