"""A rewrite job: ``python -m workers.child_rewrite <job_id>`` runs :func:`run` (started by the supervisor).

What runs: the input file is copied once from storage to ``<data_dir>/work/<job_id>/input.jsonl`` and
``rewriter.pipeline.run`` rewrites it into ``<data_dir>/work/<job_id>/output.jsonl``, shard by shard. A rerun of
the same job (its worker died and the sweep re-queued it) finds the same work folder and resumes after the last
finished shard, so every row is rewritten exactly once. After every shard the progress and row counts go to the
store, with an event. A cancel (the store's flag) stops the run at the next shard boundary; the shards done so far
are kept. Finally the output, the dropped rows and the report become files of the team, named in the job's result.
"""

from __future__ import annotations

import json
import resource

from rewriter import pipeline, reports
from rewriter.engines import load_engine
from rewriter.jobs.rewrite import RewriteJobSpec
from rewriter.results import RewriteProgress, RewriteResult, RewriteSummary, RewriteUsage
from rewriter.runs.context import JobContext

OUTPUT_PURPOSE = "rewrite-output"
ERROR_PURPOSE = "rewrite-error"
REPORT_PURPOSE = "rewrite-report"


def run(ctx: JobContext[RewriteJobSpec]) -> int:
    spec = ctx.spec
    source = ctx.fetch(spec.input_file_id, ctx.work / "input.jsonl")
    model_dir, _ = ctx.registry.engine_paths(ctx.team, spec.model, None, ctx.cache)
    strategy = spec.strategy
    if spec.adapter is not None:  # the spec names the adapter by model id; the engine needs its directory
        adapter = ctx.registry.get(ctx.team, spec.adapter, param="adapter")
        strategy = strategy.model_copy(update={"adapter": str(ctx.registry.local_dir(adapter, ctx.cache))})
    engine = load_engine(model_dir, engine=spec.engine, device=ctx.settings.device)

    output = ctx.work / "output.jsonl"
    already = pipeline.finished_shards(output)
    if already:
        ctx.event(f"Resuming after {already} finished shards.", data={"shards_done": already})
    else:
        ctx.event(f"Rewriting {source.rows} rows with {strategy.strategy} on {spec.model}.")

    def on_progress(progress: pipeline.Progress) -> None:
        ctx.progress(
            RewriteProgress(
                shards_done=progress.shards_done,
                shards_total=progress.shards_total,
                row_counts=progress.row_counts,
            )
        )
        if progress.shards_done > already:
            ctx.event(
                f"Shard {progress.shards_done}/{progress.shards_total} done: "
                f"{progress.rows_done}/{progress.rows_total} rows.",
                type="metrics",
                data={"shards_done": progress.shards_done, **progress.row_counts.stored()},
            )

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
