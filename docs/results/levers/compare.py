"""The levers of issue 15 side by side on a fallback-heavy case: the held-out `chat` register of downstream-styles,
where guided_resolve accepts ~1 row in 5 with the committed toy backbone. One seed, the experiment's SFT budget
(full fine-tune, AdamW lr 5e-4, batch 32) cut to 40 steps, 200 rows and 50 test problems per suite: the CPU was shared.

Run: PYTHONPATH=. python docs/results/levers/compare.py OUTDIR; writes table.md and table.json there.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import torch

from rewriter import forecast, pipeline
from rewriter.engines import load_engine
from rewriter.evaluation import compare, evaluate
from rewriter.specs import StrategySpec
from rewriter.suites import RETENTION_SUITES, get_suite
from training.sft import SFTSpec, train_sft

SUITE, ROWS, SEED, EVAL_N = "downstream-style-chat", 200, 0, 50
SFT = {"steps": 40, "batch_size": 32, "lr": 5e-4, "seed": SEED}  # few steps: the CPU is shared


def main(out: Path) -> None:
    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    data = out / "expert.jsonl"
    with data.open("w") as fh:
        for i, ex in enumerate(get_suite(SUITE).examples("train", ROWS, seed=SEED)):
            fh.write(
                json.dumps({"id": f"r{i}", "question": ex.question, "answer": ex.expert, "gold": ex.gold})
                + "\n"
            )
    engine = load_engine("toy", "hf", "cpu")
    rewritten = {}
    for name, fallback in (("expert", "expert"), ("drop", "drop")):
        spec = StrategySpec(strategy="guided_resolve", verifier="toy-number", seed=SEED, fallback=fallback)  # type: ignore[arg-type]
        result = pipeline.run(data, out / f"guided-{name}.jsonl", spec, engine)
        rewritten[name] = result
    report = rewritten["expert"].report
    expert_nll = report["nll_before"]["qa"]["mean"]
    arms = {
        "sft-expert": (data, {}, forecast.forecast(expert_nll)),
        "guided+sft": (out / "guided-expert.jsonl", {}, report["forgetting"]["forecast"]),
        "guided (fallback: drop)+sft": (
            out / "guided-drop.jsonl",
            {},
            rewritten["drop"].report["forgetting"]["forecast"],
        ),
        "guided+sft, replay 0.3": (
            out / "guided-expert.jsonl",
            {"replay_ratio": 0.3},
            report["forgetting"]["forecast"],
        ),
        "guided+sft, token mask 2.5": (
            out / "guided-expert.jsonl",
            {"token_weighting": "mask"},
            report["forgetting"]["forecast"],
        ),
        "sft-expert, token mask 2.5": (data, {"token_weighting": "mask"}, forecast.forecast(expert_nll)),
    }
    suites = [SUITE, *RETENTION_SUITES]
    base = evaluate(engine, suites, n=EVAL_N)
    rows = []
    for arm, (path, extra, predicted) in arms.items():
        started = time.perf_counter()
        model = out / "models" / arm.replace(" ", "_").replace(":", "").replace(",", "")
        train_sft(path, "toy", model, SFTSpec(**SFT, **extra))
        tuned = evaluate(load_engine(str(model), "hf", "cpu"), suites, n=EVAL_N)
        cmp = compare(base, tuned, [SUITE])
        trained_on = [json.loads(line) for line in path.open()]
        scored = engine.score(
            [r["question"] for r in trained_on], [r["answer"] for r in trained_on], conditioning="qa"
        )
        nll = statistics.fmean(-sum(lp) / len(lp) for lp in scored)
        rows.append(
            {
                "arm": arm,
                "downstream": tuned[SUITE].accuracy,
                "forgetting": round(cmp.forgetting_abs, 1),
                "target_nll": round(nll, 3),
                "forecast": predicted,
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
        print(rows[-1], flush=True)
    lines = [
        f"# The levers on a fallback-heavy case: `{SUITE}` (held-out register), 1 seed",
        "",
        f"{ROWS} rows; guided_resolve accepted {report['acceptance_rate']:.2f} "
        f"({report['provenance']}); base downstream {base[SUITE].accuracy:.2f}. SFT: full, AdamW lr 5e-4, batch 32, "
        f"{SFT['steps']} steps. Forgetting: points of base-skill accuracy (6 skills, {EVAL_N} test problems each).",
        "",
        "| arm | downstream | forgetting (pts) | target NLL mean (training set) | forecast (pts, interval) |",
        "|---|---|---|---|---|",
        *[
            f"| {r['arm']} | {r['downstream']:.2f} | {r['forgetting']} | {r['target_nll']} | "
            f"{r['forecast']['forgetting_points']} ({r['forecast']['interval'][0]}–{r['forecast']['interval'][1]})"
            f"{'' if r['forecast']['within_range'] else ', out of range'} |"
            for r in rows
        ],
        "",
    ]
    (out / "table.md").write_text("\n".join(lines))
    (out / "table.json").write_text(
        json.dumps({"base": {k: v.accuracy for k, v in base.items()}, "arms": rows}, indent=2)
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
