"""``rewriter demo``: the main job on the embedded toy world, on a CPU, in a few minutes."""

from __future__ import annotations

import typer

app = typer.Typer()


def run_demo() -> None:
    import torch

    from rewriter.backends import load_engine
    from rewriter.evaluation import evaluate
    from rewriter.tasks import SUITES

    torch.manual_seed(0)
    engine = load_engine("toy")
    typer.echo("== The toy backbone's scorecard (greedy accuracy, 200 held-out problems per suite) ==")
    results = evaluate(engine, list(SUITES), n=200)
    for name, result in results.items():
        typer.echo(f"  {name:18s} {SUITES[name].kind:10s} {result.accuracy:6.3f}")
    typer.echo("\n== A few generations ==")
    for name in ("add", "wordproblem", "downstream", "downstream-newop"):
        sample = results[name].samples[0]
        question = sample["prompt"].split("Problem:\n", 1)[1].split("\n\nAnswer:")[0]
        typer.echo(f"  [{name}] {question!r}\n      -> {sample['output']!r}  (gold {sample['gold']})")
