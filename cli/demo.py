"""``rewriter demo``: the main job on the embedded toy world, on a CPU, in a few minutes.

1. the toy backbone's scorecard and a few generations;
2. the downstream training set (expert demonstrations in prose) rewritten with ``guided_resolve``, and its report;
3. the backbone fine-tuned on the expert set and on the rewritten set (same budget), with each model's downstream
   accuracy and forgetting of the base skills;
4. when Redis answers (or redis-server is installed): the same loop through the service — upload, rewrite job,
   download, fine-tuning job, eval run — with a real API process and a real worker.
"""

from __future__ import annotations

from pathlib import Path

import typer

DEMO_ROWS = 320


def run_demo(workdir: Path = Path("var/demo")) -> None:
    from rewriter import pipeline, reports
    from rewriter.engines import load_engine, seed_everything
    from rewriter.engines.hf import HFEngine
    from rewriter.evaluation import compare, evaluate
    from rewriter.specs import StrategySpec
    from rewriter.suites import RETENTION_SUITES, SUITES, get_suite

    seed_everything(0)
    workdir.mkdir(parents=True, exist_ok=True)
    engine = load_engine("toy")
    typer.echo("== 1. The toy backbone's scorecard (greedy accuracy, 200 held-out problems per suite) ==")
    base = evaluate(engine, list(SUITES), n=200)
    for name, result in base.items():
        typer.echo(f"  {name:18s} {SUITES[name].kind:10s} {result.accuracy:6.3f}")
    for name in ("wordproblem", "downstream"):
        sample = base[name].samples[0]
        question = sample["prompt"].split("Problem:\n", 1)[1].split("\n\nAnswer:")[0]
        typer.echo(f"  [{name}] {question!r} -> {sample['output']!r} (gold {sample['gold']})")

    typer.echo(f"\n== 2. Rewriting {DEMO_ROWS} downstream rows with guided_resolve ==")
    expert = workdir / "downstream.jsonl"
    import json

    with expert.open("w") as fh:
        for i, ex in enumerate(get_suite("downstream").examples("train", DEMO_ROWS, seed=0)):
            fh.write(
                json.dumps({"id": f"d{i}", "question": ex.question, "answer": ex.expert, "gold": ex.gold})
                + "\n"
            )
    spec = StrategySpec(strategy="guided_resolve", verifier="toy-number", max_new_tokens=96)
    result = pipeline.run(expert, workdir / "rewritten.jsonl", spec, engine)
    typer.echo(reports.to_markdown(result.report))
    first = json.loads((workdir / "rewritten.jsonl").open().readline())
    typer.echo(
        f"  e.g. {first['question']!r}\n    expert:    {json.loads(expert.open().readline())['answer']!r}"
    )
    typer.echo(f"    rewritten: {first['answer']!r}  [{first['meta']['provenance']}]")

    from training.experiment_config import ExperimentConfig
    from training.sft import SFTSpec, train_sft

    recipe = ExperimentConfig()  # the forgetting table's SFT budget
    typer.echo(
        f"\n== 3. Fine-tuning on each set (full, AdamW lr {recipe.sft_lr:g}, batch {recipe.batch_size}, "
        f"{recipe.sft_steps} steps) =="
    )

    suites = ["downstream", *RETENTION_SUITES]
    for label, data in (("expert data", expert), ("rewritten data", workdir / "rewritten.jsonl")):
        out = workdir / f"sft-{label.split()[0]}"
        train_sft(
            data, "toy", out, SFTSpec(steps=recipe.sft_steps, lr=recipe.sft_lr, batch_size=recipe.batch_size)
        )
        tuned = evaluate(HFEngine(out, device="cpu"), suites, n=200)
        cmp = compare(base, tuned, ["downstream"])
        typer.echo(
            f"  SFT on {label:15s} downstream {tuned['downstream'].accuracy:.3f} (base {base['downstream'].accuracy:.3f})"
            f"   forgetting {cmp.forgetting_abs:5.1f} pts ({cmp.forgetting_rel:.0%} of base-skill accuracy)"
        )

    typer.echo("\n== 4. The same loop through the service (API + worker) ==")
    if _redis_available():
        from cli.service_demo import run_service_demo

        run_service_demo()
    else:
        typer.echo(
            "  skipped: no Redis answers and redis-server is not installed (start one, then `make demo`)"
        )


def _redis_available() -> bool:
    import shutil

    import redis

    from rewriter.settings import get_settings

    if shutil.which("redis-server"):
        return True
    try:
        return bool(redis.Redis.from_url(get_settings().redis_url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False
