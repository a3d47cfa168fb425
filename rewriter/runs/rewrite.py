"""A rewrite job: ``python -m workers.child_rewrite <job_id>`` runs :func:`run`, and each of the job's helpers
``python -m workers.child_shards <job_id>`` runs :func:`assist` (both started by a supervisor).

What runs: every process copies the input file once from storage to ``<data_dir>/work/<job_id>/input.jsonl`` on
its host, loads the model once and rewrites the shards it claims (``rewriter.runs.claims``: leases in Redis) into
the job's shard folder in the artifact store, ``<storage>/work/<job_id>`` (``rewriter.shards.Parts``: each shard
written atomically). :func:`run` — the job's own process — reports progress and an event for every shard any
process finished, waits for the shards other processes hold (taking over those whose lease lapsed), then assembles
the output in row order. A rerun of the job (its process died and was retried, or the sweep re-queued it, on any
host) finds the finished shards in the store and resumes, so every row is rewritten exactly once. A cancel (the
store's flag) stops the run at the next shard boundary; the shards done so far are kept. Finally the output, the
dropped rows and the report become files of the team, named in the job's result.
"""

from __future__ import annotations

import json
import resource
import time
from dataclasses import dataclass
from typing import Any

from rewriter import pipeline, reports, shards
from rewriter.engines import load_engine
from rewriter.jobs.rewrite import RewriteJobSpec
from rewriter.results import RewriteProgress, RewriteResult, RewriteSummary, RewriteUsage
from rewriter.runs.claims import StoreClaims
from rewriter.runs.context import JobContext

OUTPUT_PURPOSE = "rewrite-output"
ERROR_PURPOSE = "rewrite-error"
REPORT_PURPOSE = "rewrite-report"


@dataclass
class Setup:
    """What every process of a rewrite job prepares: the input's local copy, the engine, the shard folder."""

    input: Any  # the input file's record
    strategy: Any  # the StrategySpec, with the adapter's local directory
    engine: Any
    parts: shards.Parts


def parts(ctx: JobContext[RewriteJobSpec]) -> shards.Parts:
    """The job's shard folder in the artifact store (``<storage>/work/<job_id>``): any host sees it."""
    return shards.Parts(ctx.artifacts.fs, f"{ctx.artifacts.root}/work/{ctx.id}")


def setup(ctx: JobContext[RewriteJobSpec]) -> Setup:
    spec = ctx.spec
    source = ctx.fetch(spec.input_file_id, ctx.work / "input.jsonl")
    model_dir, _ = ctx.registry.engine_paths(ctx.team, spec.model, None, ctx.cache)
    strategy = spec.strategy
    if spec.adapter is not None:  # the spec names the adapter by model id; the engine needs its directory
        adapter = ctx.registry.get(ctx.team, spec.adapter, param="adapter")
        strategy = strategy.model_copy(update={"adapter": str(ctx.registry.local_dir(adapter, ctx.cache))})
    engine = load_engine(model_dir, engine=spec.engine, device=ctx.settings.device)
    return Setup(source, strategy, engine, parts(ctx))


def claims(ctx: JobContext[RewriteJobSpec]) -> Any:
    """The job's shard claims for this process (a factory of ``total``, as ``pipeline.run`` takes it)."""
    return lambda total: StoreClaims(ctx.store, ctx.id, total, ctx.settings.worker.shard_lease_seconds)


def assist(ctx: JobContext[RewriteJobSpec]) -> int:
    """A helper of the job: rewrite the shards it can claim for one turn (``worker.shard_turn_seconds``), then exit.
    It writes nothing of the job's own (progress, events, result): the job's process reports the shards it sees."""
    spec = ctx.spec

    def stop() -> bool:
        job = ctx.store.get_job(ctx.id, team=None)
        return job.status != "in_progress" or ctx.cancelled()

    if stop():
        return 0
    ready = setup(ctx)
    job = pipeline.plan(
        ctx.work / "input.jsonl",
        ready.strategy,
        model=spec.model,
        shard_rows=spec.shard_rows,
        limit=spec.preview,
        output_schema=spec.output_schema,
    )
    held = claims(ctx)(len(job.shards))
    until = time.monotonic() + ctx.settings.worker.shard_turn_seconds
    try:
        work = pipeline.compute(
            job, ready.parts, held, ready.engine, ready.strategy, spec.output_schema, stop, until=until
        )
        for _ in work:
            pass
    finally:
        held.close()
    return 0


def run(ctx: JobContext[RewriteJobSpec]) -> int:
    spec = ctx.spec
    ready = setup(ctx)
    source, strategy, engine = ready.input, ready.strategy, ready.engine
    output = ctx.work / "output.jsonl"
    already = len(ready.parts.finished())
    if already:
        ctx.event(f"Resuming after {already} finished shards.", data={"shards_done": already})
    else:
        ctx.event(f"Rewriting {source.rows} rows with {strategy.strategy} on {spec.model}.")
    # Shard events up to what an earlier attempt reported; helpers may have finished more while no process of the
    # job's own ran: those get their events now.
    reported = min(already, int((ctx.job.progress or {}).get("shards_done") or 0))

    def on_progress(progress: pipeline.Progress) -> None:
        ctx.progress(
            RewriteProgress(
                shards_done=progress.shards_done,
                shards_total=progress.shards_total,
                row_counts=progress.row_counts,
            )
        )
        nonlocal reported
        for done in range(reported + 1, progress.shards_done + 1):  # one event per shard, whoever finished it
            ctx.event(
                f"Shard {done}/{progress.shards_total} done: {progress.rows_done}/{progress.rows_total} rows.",
                type="metrics",
                data={"shards_done": done, **progress.row_counts.stored()},
            )
        reported = max(reported, progress.shards_done)

    result = pipeline.run(
        ctx.work / "input.jsonl",
        output,
        strategy,
        engine,
        model=spec.model,
        shard_rows=spec.shard_rows,
        limit=spec.preview,
        output_schema=spec.output_schema,
        on_progress=on_progress,
        should_stop=ctx.cancelled,
        parts=ready.parts,
        claims=claims(ctx),
    )
    if result.cancelled:
        ctx.event(f"Cancelled: keeping the {result.row_counts.completed} rows rewritten so far.")
    else:
        ctx.transition(["in_progress"], "finalizing")
    published = publish(ctx, result, spec.output_schema or source.schema)
    usage = resource.getrusage(resource.RUSAGE_SELF)  # this attempt's process: start, model load, rewrite
    ctx.result(
        published.model_copy(
            update={
                "row_counts": result.row_counts,
                "summary": RewriteSummary.from_report(result.report),
                "cancelled": result.cancelled,
                "usage": RewriteUsage(
                    cpu_seconds=round(usage.ru_utime + usage.ru_stime, 2),
                    rewrite_seconds=round(result.timers.get("total", 0.0), 2),
                    shards_run=result.shards_run,
                ),
            }
        )
    )
    ctx.event(f"Done: {result.row_counts.kept} rows kept, {result.row_counts.dropped} dropped.")
    return 0


def publish(ctx: JobContext[RewriteJobSpec], result: pipeline.RunResult, schema: str) -> RewriteResult:
    """Register the output, the dropped rows (when any) and the report as files of the team. A rerun after a
    crash reuses the files a previous attempt registered (their ids are in the job's result), and the result
    names each file as soon as it is registered."""
    known = RewriteResult.model_validate(ctx.job.result or {})
    counts = result.row_counts
    report_dir = result.output.parent
    (report_dir / "report.json").write_text(json.dumps(result.report, indent=2) + "\n")
    (report_dir / "report.md").write_text(reports.to_markdown(result.report))
    wanted = [
        ("output_file_id", result.output, OUTPUT_PURPOSE, schema, counts.kept),
        ("report_file_id", report_dir / "report.json", REPORT_PURPOSE, "report", 0),
        ("report_markdown_file_id", report_dir / "report.md", REPORT_PURPOSE, "markdown", 0),
    ]
    if counts.dropped:
        wanted.insert(1, ("error_file_id", result.dropped, ERROR_PURPOSE, schema, counts.dropped))
    ids: dict[str, str | None] = {"error_file_id": None}
    for key, local, purpose, kind, rows in wanted:
        if getattr(known, key):
            ids[key] = getattr(known, key)
            continue
        ids[key] = ctx.publish(local, purpose=purpose, schema=kind, rows=rows).id
        ctx.result(known.model_copy(update=ids))
    return RewriteResult(**ids)
