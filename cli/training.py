"""Training commands: ``sft``, ``train-rewriter``, ``grpo-task`` and ``experiment`` (TRL loads only here)."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("sft")(sft)
    app.command("train-rewriter")(train_rewriter)
    app.command("grpo-task")(grpo_task)
    app.command("experiment")(experiment)


def _progress(step: int, metrics: dict[str, object]) -> None:
    shown = {k: v for k, v in metrics.items() if isinstance(v, float | int) and not isinstance(v, bool)}
    typer.echo(f"step {step:4d}  " + "  ".join(f"{k} {float(v):.4g}" for k, v in list(shown.items())[:6]))


def sft(
    data: Annotated[Path, typer.Argument(help="JSONL in any supported schema (a rewrite output included)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="output model (or adapter) directory")],
    model: Annotated[str, typer.Option(help="'toy' or a model directory")] = "toy",
    loss: Annotated[str, typer.Option(help="nll | dft | is")] = "nll",
    lora: Annotated[bool, typer.Option("--lora/--full", help="LoRA adapter or full fine-tuning")] = False,
    steps: Annotated[int, typer.Option(help="optimizer steps")] = 100,
    lr: Annotated[float, typer.Option(help="learning rate")] = 1e-4,
    batch_size: Annotated[int, typer.Option(help="rows per step")] = 32,
    seed: Annotated[int, typer.Option(help="seed")] = 0,
    conditioning: Annotated[
        str,
        typer.Option(
            help="qa (the QA prompt) | chat (the model's chat template over the row's conversation)"
        ),
    ] = "qa",
    token_weighting: Annotated[
        str, typer.Option(help="none | mask | down: weight target tokens by their NLL under the base")
    ] = "none",
    token_nll_threshold: Annotated[
        float, typer.Option(help="nats above which tokens are masked / down-weighted")
    ] = 2.5,
    replay_ratio: Annotated[
        float, typer.Option(help="share of replay rows (the base's own samples) in the set")
    ] = 0.0,
    replay_file: Annotated[
        Path | None, typer.Option(help="replay this file's rows instead of the base's samples")
    ] = None,
) -> None:
    """Supervised fine-tuning with TRL's SFTTrainer (completion-only loss)."""
    from training.hooks import TrainingHooks
    from training.sft import SFTSpec, train_sft

    spec = SFTSpec(
        loss=loss,  # type: ignore[arg-type]
        lora=lora,
        steps=steps,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        conditioning=conditioning,  # type: ignore[arg-type]
        token_weighting=token_weighting,  # type: ignore[arg-type]
        token_nll_threshold=token_nll_threshold,
        replay_ratio=replay_ratio,
        replay_file=str(replay_file) if replay_file else None,
    )
    result = train_sft(data, model, output, spec, TrainingHooks(on_step=_progress))
    typer.echo(f"saved {'adapter' if lora else 'model'} to {result.out_dir} in {result.train_seconds:.1f}s")


def train_rewriter(
    data: Annotated[Path, typer.Argument(help="JSONL of (question, expert answer[, gold]) rows")],
    output: Annotated[Path, typer.Option("-o", "--output", help="adapter directory")],
    model: Annotated[str, typer.Option(help="'toy' or a model directory")] = "toy",
    steps: Annotated[int, typer.Option(help="GRPO steps")] = 60,
    verifier: Annotated[str, typer.Option(help="gate verifier")] = "toy-number",
    seed: Annotated[int, typer.Option(help="seed")] = 0,
    warm_start: Annotated[
        Path | None,
        typer.Option(
            help="a rewrite output of DATA (e.g. `rewriter rewrite DATA --strategy guided_resolve`): LoRA SFT on "
            "its accepted rewrites before GRPO"
        ),
    ] = None,
    warm_start_epochs: Annotated[float, typer.Option(help="passes of the warm start's SFT")] = 1.0,
) -> None:
    """GRPO of a LoRA rewriting policy with the grouped reward (gate x (1 + λ_dist·r_dist + λ_div·r_div))."""
    from training.grpo import GRPOSpec, train_grpo
    from training.hooks import TrainingHooks

    spec = GRPOSpec(
        mode="rewriter",
        steps=steps,
        verifier=verifier,
        seed=seed,
        warm_start=str(warm_start) if warm_start else None,
        warm_start_epochs=warm_start_epochs,
    )
    result = train_grpo(data, model, output, spec, TrainingHooks(on_step=_progress))
    typer.echo(f"saved the rewriting policy adapter to {result.out_dir} in {result.train_seconds:.1f}s")


def grpo_task(
    data: Annotated[Path, typer.Argument(help="JSONL of task rows with gold answers")],
    output: Annotated[Path, typer.Option("-o", "--output", help="adapter directory")],
    model: Annotated[str, typer.Option(help="'toy' or a model directory")] = "toy",
    steps: Annotated[int, typer.Option(help="GRPO steps")] = 60,
    verifier: Annotated[str, typer.Option(help="gate verifier")] = "toy-number",
    seed: Annotated[int, typer.Option(help="seed")] = 0,
) -> None:
    """On-policy GRPO of the backbone on the task, the gate as reward (the "RL forgets less" reference arm)."""
    from training.grpo import GRPOSpec, train_grpo
    from training.hooks import TrainingHooks

    spec = GRPOSpec(mode="task", steps=steps, verifier=verifier, seed=seed)
    result = train_grpo(data, model, output, spec, TrainingHooks(on_step=_progress))
    typer.echo(f"saved the task adapter to {result.out_dir} in {result.train_seconds:.1f}s")


def _check_data_file(path: Path, flag: str) -> None:
    """A data file that cannot be read fails before any model loads, naming the option and the line."""
    from rewriter.formats import DataFileError, read_rows

    try:
        read_rows(path)
    except (OSError, DataFileError) as error:
        raise typer.BadParameter(f"{path}: {error}", param_hint=flag) from None


def experiment(
    output: Annotated[Path, typer.Option("-o", "--output", help="results directory")],
    task: Annotated[str, typer.Option(help="downstream | downstream-newop")] = "downstream",
    seeds: Annotated[str, typer.Option(help="comma-separated seeds")] = "0,1,2",
    quick: Annotated[bool, typer.Option(help="one seed, smaller budget (~8 minutes)")] = False,
    arms: Annotated[str | None, typer.Option(help="comma-separated arm names (default: all)")] = None,
    jobs: Annotated[int, typer.Option(help="seeds in parallel processes (one torch thread each)")] = 1,
    eval_every: Annotated[int | None, typer.Option(help="curve points every N SFT steps")] = None,
    eval_n: Annotated[
        int | None, typer.Option(help="test problems per suite for the final evaluation")
    ] = None,
    summarize_only: Annotated[
        bool, typer.Option(help="only aggregate the arms already finished in OUTPUT")
    ] = False,
    model: Annotated[str, typer.Option(help="'toy' or a model directory")] = "toy",
    sft_lr: Annotated[float | None, typer.Option(help="learning rate of every SFT arm")] = None,
    rewriter_grpo_steps: Annotated[
        int | None, typer.Option(help="GRPO steps of the rewriting policy (the policy-grpo arm)")
    ] = None,
    rewriter_warm_start: Annotated[
        bool, typer.Option(help="warm-start the rewriting policy on guided_resolve's accepted rewrites")
    ] = True,
    train: Annotated[
        Path | None, typer.Option("--train", help="a team's training file (expert targets, any schema)")
    ] = None,
    test: Annotated[
        Path | None, typer.Option("--test", help="a team's test file: downstream accuracy on its rows")
    ] = None,
    verifier: Annotated[
        str | None, typer.Option(help="the gate and the test's checker (default: toy-number)")
    ] = None,
    sft_steps: Annotated[int | None, typer.Option(help="optimizer steps of every SFT arm")] = None,
    rows: Annotated[int | None, typer.Option(help="training rows (the first N of --train)")] = None,
) -> None:
    """The forgetting table: every arm with the same SFT budget, on the toy's downstream task or on a team's files
    (--train, --test, --verifier); writes table.md/json and plots. Rerun the same command to resume."""
    from training.experiment import run
    from training.experiment_config import ExperimentConfig

    overrides: dict[str, object] = {
        "task": task,
        "arms": arms.split(",") if arms else None,
        "jobs": jobs,
        "model": model,
        "rewriter_warm_start": rewriter_warm_start,
    }
    if eval_every is not None:
        overrides["eval_every"] = eval_every
    if eval_n is not None:
        overrides["eval_n"] = eval_n
    if sft_lr is not None:
        overrides["sft_lr"] = sft_lr
    if rewriter_grpo_steps is not None:
        overrides["rewriter_grpo_steps"] = rewriter_grpo_steps
    if train is not None or test is not None:
        overrides["train_file"] = str(train) if train else None
        overrides["test_file"] = str(test) if test else None
        for path, flag in ((train, "--train"), (test, "--test")):
            if path is not None:
                _check_data_file(path, flag)
    for key, value in (("verifier", verifier), ("sft_steps", sft_steps), ("rows", rows)):
        if value is not None:
            overrides[key] = value
    if not quick or seeds != "0,1,2":
        overrides["seeds"] = [int(s) for s in seeds.split(",")]
    try:
        cfg = ExperimentConfig.quick(**overrides) if quick else ExperimentConfig(**overrides)  # type: ignore[arg-type]
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    command = "rewriter " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    summary = run(cfg, output, command, log=typer.echo, summarize_only=summarize_only)
    from training.experiment_report import to_markdown

    typer.echo(to_markdown(summary))
    typer.echo(json.dumps({"written": str(output)}))
