"""Jobs on a running service: ``rewriter jobs rewrite|finetune ...`` and ``rewriter evals ...``; ``--wait`` follows
a job with a progress bar until it ends."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.remote import ApiKey, ApiUrl, Wait, api, show
from rewriter.client import DEFAULT_URL, Client, EvalRun, FineTuningJob, Job, RewriteJob

jobs_app = typer.Typer(no_args_is_help=True, help="Rewrite and fine-tuning jobs on the service.")
rewrite_app = typer.Typer(no_args_is_help=True, help="Rewrite jobs.")
finetune_app = typer.Typer(no_args_is_help=True, help="Fine-tuning jobs.")
evals_app = typer.Typer(no_args_is_help=True, help="Evaluation runs on the service.")
jobs_app.add_typer(rewrite_app, name="rewrite")
jobs_app.add_typer(finetune_app, name="finetune")


def follow(client: Client, job: Job, poll: float) -> Job:
    """Wait for a job with a progress bar (rows for rewrites, steps for fine-tunes)."""
    from tqdm import tqdm

    with tqdm(total=None, unit="row" if isinstance(job, RewriteJob) else "step", desc=job.id) as bar:

        def update(current: Job) -> None:
            if isinstance(current, RewriteJob):
                bar.total = current.row_counts.get("total") or bar.total
                bar.n = current.row_counts.get("completed", 0)
            elif isinstance(current, FineTuningJob) and current.progress:
                bar.total, bar.n = current.progress.get("steps"), current.progress.get("step", 0)
            bar.set_postfix_str(current.status)

        done = client.wait_for(job, poll, on_update=update)
    if done.error:
        typer.echo(f"{done.id} {done.status}: {done.error.get('message')}", err=True)
    return done


@rewrite_app.command("create")
def rewrite_create(
    input_file_id: str,
    strategy: Annotated[
        str, typer.Option(help="identity | self_distill | guided_resolve | policy | auto")
    ] = "guided_resolve",
    verifier: Annotated[
        str, typer.Option(help="math | numeric | exact | choice | regex | toy-number | ...")
    ] = "math",
    model: Annotated[str | None, typer.Option(help="backbone model id (default: the service's)")] = None,
    adapter: Annotated[str | None, typer.Option(help="policy, auto: a trained adapter's model id")] = None,
    k: Annotated[int | None, typer.Option("-k", help="candidates per row (per stage)")] = None,
    temperature: Annotated[float | None, typer.Option(help="first-stage temperature")] = None,
    max_new_tokens: Annotated[int | None, typer.Option(help="per candidate")] = None,
    fallback: Annotated[str | None, typer.Option(help="expert | drop")] = None,
    selection: Annotated[str | None, typer.Option(help="first | min_nll | reward")] = None,
    seed: Annotated[int, typer.Option(help="sampling seed")] = 0,
    preview: Annotated[int | None, typer.Option(help="only the first N rows")] = None,
    wait: Wait = False,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="with --wait: download the output")
    ] = None,
    poll: Annotated[float, typer.Option(help="seconds between polls")] = 2.0,
    api_url: ApiUrl = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    """Rewrite a file: prints the job, or with --wait follows it with a progress bar and prints the result."""
    settings = {k: v for k, v in {"fallback": fallback, "selection": selection}.items() if v is not None}
    sampling = {
        k: v
        for k, v in {"k": k, "temperature": temperature, "max_new_tokens": max_new_tokens}.items()
        if v is not None
    }
    with api(api_url, api_key) as client:
        job = client.create_rewrite_job(
            input_file_id,
            strategy=strategy,
            verifier=verifier,
            model=model,
            adapter=adapter,
            settings=settings,
            sampling=sampling,
            seed=seed,
            preview=preview,
        )
        if not wait:
            show(job)
            return
        done = follow(client, job, poll)
        assert isinstance(done, RewriteJob)
        show({k: getattr(done, k) for k in ("id", "status", "row_counts", "summary", "output_file_id")})
        if output is not None and done.output_file_id:
            typer.echo(f"output: {client.download_file(done.output_file_id, output)}")
        if done.status != "completed":
            raise typer.Exit(1)


@rewrite_app.command("get")
def rewrite_get(job_id: str, api_url: ApiUrl = DEFAULT_URL, api_key: ApiKey = None) -> None:
    with api(api_url, api_key) as client:
        show(client.get_job(RewriteJob, job_id))


@rewrite_app.command("cancel")
def rewrite_cancel(job_id: str, api_url: ApiUrl = DEFAULT_URL, api_key: ApiKey = None) -> None:
    """Stop a rewrite: it finishes its current shard and keeps the rows rewritten so far."""
    with api(api_url, api_key) as client:
        show(client.cancel(client.get_job(RewriteJob, job_id)))


@finetune_app.command("create")
def finetune_create(
    training_file: str,
    model: Annotated[str, typer.Option(help="the model to fine-tune")] = "toy",
    method: Annotated[str, typer.Option(help="supervised | grpo")] = "supervised",
    steps: Annotated[int | None, typer.Option(help="optimizer steps")] = None,
    epochs: Annotated[int | None, typer.Option(help="passes over the file (instead of --steps)")] = None,
    batch_size: Annotated[int | None, typer.Option(help="rows per step")] = None,
    lr: Annotated[float | None, typer.Option(help="learning rate")] = None,
    loss: Annotated[str, typer.Option(help="supervised: nll | dft | is")] = "nll",
    lora: Annotated[bool, typer.Option(help="supervised: train a LoRA adapter")] = False,
    mode: Annotated[str, typer.Option(help="grpo: rewriter | task")] = "rewriter",
    grpo_verifier: Annotated[str, typer.Option(help="grpo: the gate")] = "toy-number",
    warm_start_file: Annotated[
        str | None,
        typer.Option(help="grpo rewriter: a rewrite job's output file of TRAINING_FILE to SFT on first"),
    ] = None,
    validation_file: Annotated[
        str | None,
        typer.Option(help="supervised: a held-out dataset file; its loss is logged as valid_loss"),
    ] = None,
    suffix: Annotated[str | None, typer.Option(help="goes into the model id")] = None,
    seed: Annotated[int | None, typer.Option(help="training seed")] = None,
    wait: Wait = False,
    poll: Annotated[float, typer.Option(help="seconds between polls")] = 2.0,
    api_url: ApiUrl = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    """Fine-tune a model on a file (supervised) or train a GRPO adapter; prints the job (or follows it)."""
    hyper = {"steps": steps, "n_epochs": epochs, "batch_size": batch_size, "learning_rate": lr}
    hyper = {k: v for k, v in hyper.items() if v is not None}
    body: dict[str, Any] = (
        {"type": "supervised", "supervised": {"hyperparameters": hyper, "loss": loss, "lora": lora}}
        if method == "supervised"
        else {"type": method, method: {"hyperparameters": hyper, "mode": mode, "verifier": grpo_verifier}}
    )
    if warm_start_file is not None:
        body.setdefault(method, {})["warm_start_file"] = warm_start_file  # the API refuses it for supervised
    with api(api_url, api_key) as client:
        job = client.create_fine_tuning_job(
            model, training_file, method=body, validation_file=validation_file, suffix=suffix, seed=seed
        )
        if not wait:
            show(job)
            return
        done = follow(client, job, poll)
        assert isinstance(done, FineTuningJob)
        show({k: getattr(done, k) for k in ("id", "status", "fine_tuned_model", "trained_tokens")})
        if done.status != "succeeded":
            raise typer.Exit(1)


@finetune_app.command("get")
def finetune_get(job_id: str, api_url: ApiUrl = DEFAULT_URL, api_key: ApiKey = None) -> None:
    with api(api_url, api_key) as client:
        show(client.get_job(FineTuningJob, job_id))


@finetune_app.command("cancel")
def finetune_cancel(job_id: str, api_url: ApiUrl = DEFAULT_URL, api_key: ApiKey = None) -> None:
    with api(api_url, api_key) as client:
        show(client.cancel(client.get_job(FineTuningJob, job_id)))


def parse_file_option(value: str) -> dict[str, str]:
    """``FILE_ID:VERIFIER[:ROLE]`` as an eval run's file entry.

    >>> parse_file_option("file-abc:numeric:retention")
    {'file_id': 'file-abc', 'verifier': 'numeric', 'role': 'retention'}
    """
    parts = value.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise typer.BadParameter(f"expected FILE_ID:VERIFIER[:downstream|retention], got {value!r}")
    entry = {"file_id": parts[0], "verifier": parts[1]}
    if len(parts) == 3:
        entry["role"] = parts[2]
    return entry


def parse_task_option(value: str) -> dict[str, str]:
    """``TASK[=FILE_ID]`` as a harness task entry (with the team's file as its test data).

    >>> parse_task_option("toy_add=file-abc")
    {'task': 'toy_add', 'file_id': 'file-abc'}
    """
    task, _, file_id = value.partition("=")
    return {"task": task, **({"file_id": file_id} if file_id else {})}


@evals_app.command("create")
def evals_create(
    model: Annotated[str, typer.Option(help="the model to evaluate")] = "toy",
    adapter: Annotated[str | None, typer.Option(help="an adapter model id on top")] = None,
    suites: Annotated[
        str | None, typer.Option(help="comma-separated suites (default: all, unless --file/--task)")
    ] = None,
    file: Annotated[
        list[str] | None, typer.Option("--file", help="a held-out file: FILE_ID:VERIFIER[:ROLE] (repeat)")
    ] = None,
    task: Annotated[
        list[str] | None, typer.Option("--task", help="a harness task: TASK[=FILE_ID] (repeat)")
    ] = None,
    shots: Annotated[
        int | None, typer.Option(help="harness: few-shot examples (default: the task's)")
    ] = None,
    chat_template: Annotated[bool, typer.Option(help="harness: apply the model's chat template")] = False,
    n: Annotated[int, typer.Option("-n", help="test problems per suite, rows per file")] = 200,
    base: Annotated[str | None, typer.Option(help="compare with this model: gain and forgetting")] = None,
    wait: Wait = False,
    poll: Annotated[float, typer.Option(help="seconds between polls")] = 2.0,
    api_url: ApiUrl = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    """Accuracy per suite, held-out file and harness task (and gain / forgetting against --base)."""
    names = suites.split(",") if suites else None
    files = [parse_file_option(f) for f in file or []] or None
    harness = None
    if task:
        harness = {
            "tasks": [parse_task_option(t) for t in task],
            "num_fewshot": shots,
            "apply_chat_template": chat_template,
        }
    with api(api_url, api_key) as client:
        run = client.create_eval_run(
            model, adapter=adapter, suites=names, files=files, harness=harness, n=n, base=base
        )
        if not wait:
            show(run)
            return
        done = client.wait_for(run, poll)
        assert isinstance(done, EvalRun)
        print_eval(done)
        if done.status != "succeeded":
            raise typer.Exit(1)


def print_eval(run: EvalRun, echo: Callable[[str], Any] = typer.echo) -> None:
    if run.error:
        echo(f"{run.id} {run.status}: {run.error.get('message')}")
    for name, result in (run.results or {}).items():
        base = (run.base_results or {}).get(name)
        against = f"  base {base['accuracy']:6.3f}" if base else ""
        role = result.get("role") or "-"
        echo(f"  {name:28s} {result['accuracy']:6.3f}{against}  (n={result['n']}, {role})")
    if run.comparison:
        c = run.comparison
        echo(
            f"  gain {c['gain']:+.1f} pts   forgetting {c['forgetting_abs']:.1f} pts ({c['forgetting_rel']:.0%})"
        )


@evals_app.command("get")
def evals_get(run_id: str, api_url: ApiUrl = DEFAULT_URL, api_key: ApiKey = None) -> None:
    with api(api_url, api_key) as client:
        show(client.get_job(EvalRun, run_id))
