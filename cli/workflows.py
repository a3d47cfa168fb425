"""In-process workflows: ``rewrite``, ``score`` (and the training commands registered by ``cli.training``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Attach the workflow commands to the top-level app."""
    app.command("rewrite")(rewrite)
    app.command("score")(score)


def rewrite(
    input_path: Annotated[Path, typer.Argument(help="JSONL dataset (qa, prompt/completion or messages)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="rewritten JSONL (a rerun resumes it)")],
    strategy: Annotated[
        str, typer.Option(help="identity | self_distill | guided_resolve | policy | auto")
    ] = "guided_resolve",
    model: Annotated[str, typer.Option(help="'toy' or a model directory")] = "toy",
    adapter: Annotated[Path | None, typer.Option(help="policy, auto: LoRA adapter directory")] = None,
    verifier: Annotated[
        str, typer.Option(help="math | numeric | exact | choice | regex | toy-number | toy-text")
    ] = "math",
    k: Annotated[int, typer.Option("-k", help="candidates per row (per stage)")] = 4,
    seed: Annotated[int, typer.Option(help="sampling seed")] = 0,
    limit: Annotated[int | None, typer.Option(help="only the first N rows")] = None,
    selection: Annotated[str | None, typer.Option(help="first | min_nll | reward")] = None,
    fallback: Annotated[str, typer.Option(help="expert | drop")] = "expert",
    max_new_tokens: Annotated[int, typer.Option(help="per candidate")] = 256,
    shard_rows: Annotated[int, typer.Option(help="rows per shard (the resume unit)")] = 64,
    report: Annotated[Path | None, typer.Option(help="directory for report.json/.md and plots")] = None,
    engine_name: Annotated[str, typer.Option("--engine", help="hf | vllm")] = "hf",
) -> None:
    """Rewrite a dataset with a strategy behind the correctness gate; prints the report."""
    from pydantic import ValidationError
    from tqdm import tqdm

    from rewriter import pipeline, reports
    from rewriter.engines import load_engine
    from rewriter.specs import StrategySpec

    try:
        spec = StrategySpec.model_validate(
            {
                "strategy": strategy,
                "k": k,
                "seed": seed,
                "verifier": verifier,
                "selection": selection,
                "fallback": fallback,
                "max_new_tokens": max_new_tokens,
                "adapter": str(adapter) if adapter else None,
            }
        )
    except ValidationError as exc:
        raise typer.BadParameter("; ".join(e["msg"] for e in exc.errors())) from None
    engine = load_engine(model, engine_name)
    with tqdm(total=None, unit="row", desc=f"rewrite[{strategy}]") as bar:

        def progress(p: pipeline.Progress) -> None:
            bar.total = p.rows_total
            bar.n = p.rows_done
            bar.refresh()

        result = pipeline.run(
            input_path,
            output,
            spec,
            engine,
            model=model,
            shard_rows=shard_rows,
            limit=limit,
            on_progress=progress,
        )
    report_dir = report or output.with_name(output.stem + ".report")
    metas = [json.loads(line)["meta"] for line in output.open()] if output.exists() else []
    reports.write(result.report, metas, report_dir)
    typer.echo(reports.to_markdown(result.report))
    typer.echo(f"output: {output}   report: {report_dir}")


def score(
    input_path: Annotated[Path, typer.Argument(help="JSONL dataset")],
    model: Annotated[str, typer.Option(help="'toy' or a model directory")] = "toy",
    adapter: Annotated[Path | None, typer.Option(help="LoRA adapter directory")] = None,
) -> None:
    """Print one JSON line per row: the per-token NLL of its target under the model, QA and chat prompts (chat: the
    row's whole conversation before the target, the tokens SFT with chat conditioning trains on)."""
    from rewriter import formats
    from rewriter.engines import load_engine, mean_nll

    _, rows = formats.read_rows(input_path)
    engine = load_engine(model)
    questions, targets = [r.question for r in rows], [r.answer for r in rows]
    kwargs = {"adapter": str(adapter)} if adapter else {}
    qa = engine.score(questions, targets, conditioning="qa", **kwargs)
    chat = engine.score([formats.chat_prompt(r) for r in rows], targets, conditioning="chat", **kwargs)
    for row, lq, lc in zip(rows, qa, chat, strict=True):
        typer.echo(
            json.dumps({"id": row.id, "nll_qa": round(mean_nll(lq), 4), "nll_chat": round(mean_nll(lc), 4)})
        )
