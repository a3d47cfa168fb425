"""The service demo: the main job on the toy world, end to end through the HTTP API and a real worker.

``run_service_demo()`` uses a running service when ``REWRITER_API_URL`` and ``REWRITER_API_KEY`` are set and it
answers; otherwise it starts one here (API + Celery worker + beat on free ports, with a private redis-server when
the binary is there — so no other worker on a shared Redis can take its jobs — else the configured Redis) and
creates a key. Then: upload ~200 toy downstream rows → rewrite job (guided_resolve, toy-number gate, 96 new tokens)
→ download → fine-tuning job on the rewritten file (supervised, full, 100 steps) → eval run against the base.
Everything it started is stopped at the end. On 2 loaded cores it takes a few minutes.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from rewriter.client import Client, EvalRun, FineTuningJob, Job, RewriteJob

DEMO_ROWS = 200


def _running_service() -> tuple[str, str] | None:
    import httpx

    url, key = os.environ.get("REWRITER_API_URL"), os.environ.get("REWRITER_API_KEY")
    if not (url and key):
        return None
    try:
        httpx.get(url.rstrip("/").removesuffix("/v1") + "/healthz", timeout=3).raise_for_status()
    except httpx.HTTPError:
        return None
    return url, key


def _progress(label: str) -> Callable[[Job], None]:
    """Print a line when the job's status changes and at every further tenth of its work."""
    last: dict[str, Any] = {"status": "", "tenth": -1}

    def show(job: Job) -> None:
        done, total, unit = 0, 0, ""
        if isinstance(job, RewriteJob):
            done, total, unit = job.row_counts.get("completed", 0), job.row_counts.get("total") or 0, "rows"
        elif isinstance(job, FineTuningJob) and job.progress:
            done, total, unit = job.progress.get("step", 0), job.progress.get("steps") or 0, "steps"
        tenth = 10 * done // total if total else -1
        if job.status != last["status"] or tenth > last["tenth"]:
            last.update(status=job.status, tenth=tenth)
            typer.echo(f"  {label} {job.id}: {job.status}" + (f", {done}/{total} {unit}" if total else ""))

    return show


def run_service_demo(workdir: Path = Path("var/service-demo"), rows: int = DEMO_ROWS) -> None:
    from cli.remote_jobs import print_eval
    from cli.service import LocalService
    from rewriter.service.store import Store
    from rewriter.settings import get_settings
    from rewriter.suites import RETENTION_SUITES, get_suite

    workdir.mkdir(parents=True, exist_ok=True)
    service: LocalService | None = None
    found = _running_service()
    if found:
        url, key = found
        typer.echo(f"== Using the service at {url} ==")
    else:
        settings = get_settings().model_copy(update={"data_dir": workdir / "data"})
        private = shutil.which("redis-server") is not None
        service = LocalService(settings, private_redis=private, log_dir=workdir / "logs")
        typer.echo(
            "== Starting the service: API, worker, beat" + (", a private redis-server" if private else "")
        )
        service.start()
        url, key = service.base_url, Store.from_url(service.redis_url).create_key("demo")
        typer.echo(
            f"  API at {url}, Redis {service.redis_url}, logs in {workdir / 'logs'}; key created for team demo"
        )
    try:
        with Client(url, key) as client:
            _demo(client, workdir, rows, get_suite, RETENTION_SUITES, print_eval)
    finally:
        if service is not None:
            typer.echo("== Stopping the service ==")
            service.stop()


def _demo(
    client: Client,
    workdir: Path,
    rows: int,
    get_suite: Callable[[str], Any],
    retention: list[str],
    print_eval: Callable[..., None],
) -> None:
    typer.echo(f"\n== 1. Upload {rows} downstream training rows (expert answers in prose) ==")
    data = workdir / "downstream.jsonl"
    with data.open("w") as fh:
        for i, ex in enumerate(get_suite("downstream").examples("train", rows, seed=0)):
            fh.write(
                json.dumps({"id": f"d{i}", "question": ex.question, "answer": ex.expert, "gold": ex.gold})
                + "\n"
            )
    file = client.upload_file(data, purpose="rewrite")
    typer.echo(
        f"  {file.id}: {file.rows} rows, {file.bytes} bytes, schema {(file.model_extra or {}).get('schema')}"
    )

    typer.echo("\n== 2. Rewrite job: guided_resolve behind the toy-number gate ==")
    job = client.create_rewrite_job(
        file.id, strategy="guided_resolve", verifier="toy-number", sampling={"max_new_tokens": 96}
    )
    rewrite = client.wait_for(job, 2.0, on_update=_progress("rewrite"))
    if (
        rewrite.status != "completed"
        or rewrite.output_file_id is None
        or rewrite.report_markdown_file_id is None
    ):
        raise RuntimeError(f"rewrite job {rewrite.id} ended {rewrite.status}: {rewrite.error}")
    typer.echo(f"  row counts: {json.dumps(rewrite.row_counts)}")
    report = client.download_file(rewrite.report_markdown_file_id, workdir / "report.md")
    typer.echo("\n" + report.read_text())

    typer.echo("== 3. Download the rewritten file ==")
    output = client.download_file(rewrite.output_file_id, workdir / "rewritten.jsonl")
    rewritten = [json.loads(line) for line in output.open()]
    # Show a row the model rewrote itself, if any (the first rows may have fallen back to the expert's answer).
    first = next((r for r in rewritten if r["meta"]["provenance"] in {"self", "guided"}), rewritten[0])
    expert = next(json.loads(line) for line in data.open() if json.loads(line)["id"] == first["id"])
    typer.echo(f"  {output}: e.g. {first['question']!r}")
    typer.echo(
        f"    expert:    {expert['answer']!r}\n    rewritten: {first['answer']!r}  [{first['meta']['provenance']}]"
    )

    typer.echo("\n== 4. Fine-tuning job on the rewritten file (supervised, full, 100 steps, batch 32) ==")
    method = {"type": "supervised", "supervised": {"hyperparameters": {"steps": 100, "batch_size": 32}}}
    tune = client.wait_for(
        client.create_fine_tuning_job("toy", rewrite.output_file_id, method=method, suffix="demo"),
        2.0,
        on_update=_progress("fine-tune"),
    )
    if tune.status != "succeeded" or tune.fine_tuned_model is None:
        raise RuntimeError(f"fine-tuning job {tune.id} ended {tune.status}: {tune.error}")
    losses = [
        e.data["train_loss"] for e in client.events(tune) if e.type == "metrics" and "train_loss" in e.data
    ]
    typer.echo(f"  {tune.fine_tuned_model}: training loss {losses[0]:.3f} -> {losses[-1]:.3f}")

    typer.echo(
        f"\n== 5. Eval run: {tune.fine_tuned_model} against the base, downstream + retention suites =="
    )
    run = client.create_eval_run(tune.fine_tuned_model, suites=["downstream", *retention], n=200, base="toy")
    evaluated = client.wait_for(run, 2.0, on_update=_progress("eval"))
    assert isinstance(evaluated, EvalRun)
    print_eval(evaluated)
