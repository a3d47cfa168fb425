"""``rewriter toy ...``: the embedded toy world (data sets and the backbone build)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, help="The embedded toy world: data and the tiny backbone.")


@app.command("data")
def data(
    suite: Annotated[str, typer.Argument(help="suite name, e.g. downstream, add, reference")],
    split: Annotated[str, typer.Option(help="train or test")] = "train",
    n: Annotated[int, typer.Option("-n", help="number of rows")] = 600,
    seed: Annotated[int, typer.Option(help="generator seed")] = 0,
    output: Annotated[Path, typer.Option("-o", "--output", help="JSONL file to write")] = Path("toy.jsonl"),
) -> None:
    """Write {"id","question","answer","gold"} rows: expert (prose) answers for downstream tasks, house style else."""
    from rewriter.suites import get_suite

    if split not in ("train", "test"):
        raise typer.BadParameter("split must be train or test")
    s = get_suite(suite)
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w") as fh:
        for i, ex in enumerate(s.examples(split, n, seed)):
            row = {
                "id": f"{suite}-{split}-{seed}-{i}",
                "question": ex.question,
                "answer": ex.expert if s.kind == "downstream" else ex.house,
                "gold": ex.gold,
            }
            if ex.reference:
                row["reference"] = ex.reference
            fh.write(json.dumps(row) + "\n")
    typer.echo(f"wrote {n} {split} rows of {suite} to {output}")


@app.command("harness-tasks")
def harness_tasks(
    output: Annotated[Path, typer.Option("-o", "--output", help="directory for the task YAMLs and data")],
    suites: Annotated[str | None, typer.Option(help="comma-separated suites (default: all)")] = None,
    n: Annotated[int, typer.Option("-n", help="test problems per suite")] = 200,
    seed: Annotated[int, typer.Option(help="generator seed (the evaluator's)")] = 0,
) -> None:
    """Write the toy suites' test splits as local lm-evaluation-harness tasks (toy_<suite>.yaml + .jsonl)."""
    from rewriter.harness import write_tasks
    from rewriter.suites import SUITES

    written = write_tasks(output, suites.split(",") if suites else list(SUITES), n=n, seed=seed)
    typer.echo(f"wrote {len(written)} harness tasks to {output}: {', '.join(written)}")


@app.command("build")
def build(
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="model directory (default: the packaged toy)")
    ] = None,
    steps: Annotated[
        int | None,
        typer.Option(
            help="optimizer steps (default: the recipe's; fewer than ~900 leaves reversal under 90%)"
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="seed")] = 0,
) -> None:
    """Pretrain the toy backbone (~30 minutes on 2 cores) and write its model card."""
    from rewriter.backbones import TOY_DIR
    from training.pretrain import PretrainConfig
    from training.toy_build import build as build_toy

    card = build_toy(
        output or TOY_DIR,
        PretrainConfig(seed=seed) if steps is None else PretrainConfig(steps=steps, seed=seed),
        log=typer.echo,
    )
    typer.echo(json.dumps(card, indent=2))
