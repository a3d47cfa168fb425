"""A rewrite job's child process: ``python -m workers.child_rewrite <job_id>`` (started by the supervisor).

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
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from rewriter import pipeline, reports
from rewriter.engines import load_engine
from rewriter.errors import RewriterError
from rewriter.jobs.rewrite import RewriteJobSpec
from rewriter.service import files
from rewriter.service.artifacts import Artifacts
from rewriter.service.models import Registry
from rewriter.service.store import Store
from rewriter.settings import get_settings

OUTPUT_PURPOSE = "rewrite-output"
ERROR_PURPOSE = "rewrite-error"
REPORT_PURPOSE = "rewrite-report"


class RowTally:
    """Row counts of the finished shards, read from the shard files (``{"kept": bool, "record": {...}}`` rows)."""

    def __init__(self, parts: Path) -> None:
        self.parts = parts
        self.shards: dict[int, Counter[str]] = {}

    def update(self, shards_done: int) -> dict[str, Any]:
        for index in range(shards_done):
            if index not in self.shards:
                counts: Counter[str] = Counter()
                with (self.parts / f"shard-{index:05d}.jsonl").open() as fh:
                    for line in fh:
                        if line.strip():
                            entry = json.loads(line)
                            counts["kept" if entry["kept"] else "dropped"] += 1
                            counts["p:" + entry["record"].get("meta", {}).get("provenance", "unknown")] += 1
                self.shards[index] = counts
        total: Counter[str] = sum(self.shards.values(), Counter())
        return {
            "completed": total["kept"] + total["dropped"],
            "kept": total["kept"],
            "dropped": total["dropped"],
            "by_provenance": {k[2:]: v for k, v in sorted(total.items()) if k.startswith("p:")},
        }


def main(job_id: str) -> int:
    settings = get_settings()
    store = Store.from_url(settings.redis_url)
    artifacts = Artifacts(settings.artifacts_url)
    registry = Registry(store, artifacts, settings.base_models)
    job = store.get_job(job_id, team=None)
    spec = RewriteJobSpec.model_validate(job.spec)
    work = settings.data_dir / "work" / job_id
    cache = settings.data_dir / "models"

    source = files.fetch(store, artifacts, job.team, spec.input_file_id, work / "input.jsonl")
    model_dir, _ = registry.engine_paths(job.team, spec.model, None, cache)
    strategy = spec.strategy
    if spec.adapter is not None:  # the spec names the adapter by model id; the engine needs its directory
        adapter_dir = registry.local_dir(registry.get(job.team, spec.adapter, param="adapter"), cache)
        strategy = strategy.model_copy(update={"adapter": str(adapter_dir)})
    engine = load_engine(model_dir, engine=spec.engine, device=settings.device)

    output = work / "output.jsonl"
    parts = pipeline.parts_dir(output)
    already = len(list(parts.glob("shard-*.jsonl"))) if parts.exists() else 0
    if already:
        store.add_event(job_id, f"Resuming after {already} finished shards.", data={"shards_done": already})
    else:
        store.add_event(job_id, f"Rewriting {source.rows} rows with {strategy.strategy} on {spec.model}.")
    tally = RowTally(parts)

    def on_progress(progress: pipeline.Progress) -> None:
        counts = {"total": progress.rows_total, **tally.update(progress.shards_done)}
        store.set_progress(
            job_id,
            {
                "shards_done": progress.shards_done,
                "shards_total": progress.shards_total,
                "row_counts": counts,
            },
        )
        if progress.shards_done > already:
            store.add_event(
                job_id,
                f"Shard {progress.shards_done}/{progress.shards_total} done: "
                f"{progress.rows_done}/{progress.rows_total} rows.",
                type="metrics",
                data={"shards_done": progress.shards_done, **counts},
            )

    result = pipeline.run(
        work / "input.jsonl",
        output,
        strategy,
        engine,
        model=spec.model,
        shard_rows=spec.shard_rows,
        limit=spec.preview,
        output_schema=spec.output_schema,
        on_progress=on_progress,
        should_stop=lambda: store.cancel_requested(job_id),
    )
    if result.cancelled:
        store.add_event(job_id, f"Cancelled: keeping the {result.report['rows']} rows rewritten so far.")
    else:
        store.transition(job_id, ["in_progress"], "finalizing", attempt=job.attempts)
    outputs = publish(store, artifacts, job.team, job_id, result, spec.output_schema or source.schema)
    report = result.report
    counts = {
        "total": result.rows_total,
        "completed": report["rows"],
        "kept": report["rows_kept"],
        "dropped": report["rows_dropped"],
        "by_provenance": dict(sorted(report["provenance"].items())),
    }
    summary = {
        "acceptance_rate": report["acceptance_rate"],
        "fallback_rate": report["fallback_rate"],
        "unverifiable": report["unverifiable"],
        "nll_before_mean": report["nll_before"]["qa"]["mean"],
        "nll_after_mean": report["nll_after"]["qa"]["mean"],
        "tokens_over_1nat_before": report["nll_before"]["tokens_over_1nat"],
        "tokens_over_1nat_after": report["nll_after"]["tokens_over_1nat"],
    }
    usage = resource.getrusage(resource.RUSAGE_SELF)  # this attempt's process: start, model load, rewrite
    store.set_result(
        job_id,
        {
            **outputs,
            "row_counts": counts,
            "summary": summary,
            "cancelled": result.cancelled,
            "usage": {
                "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
                "rewrite_seconds": round(result.timers.get("total", 0.0), 2),
                "shards_run": result.shards_run,
            },
        },
    )
    store.add_event(job_id, f"Done: {counts['kept']} rows kept, {counts['dropped']} dropped.")
    return 0


def publish(
    store: Store, artifacts: Artifacts, team: str, job_id: str, result: pipeline.RunResult, schema: str
) -> dict[str, str | None]:
    """Register the output, the dropped rows (when any) and the report as files of the team. A rerun after a
    crash reuses the files a previous attempt registered (their ids are in the job's result)."""
    known: dict[str, Any] = store.get_job(job_id, team=None).result or {}
    report = result.report
    folder = f"outputs/{team}/{job_id}"
    report_dir = result.output.parent
    (report_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (report_dir / "report.md").write_text(reports.to_markdown(report))
    wanted: list[tuple[str, Path, str, str, int]] = [
        ("output_file_id", result.output, OUTPUT_PURPOSE, schema, report["rows_kept"]),
        ("report_file_id", report_dir / "report.json", REPORT_PURPOSE, "report", 0),
        ("report_markdown_file_id", report_dir / "report.md", REPORT_PURPOSE, "markdown", 0),
    ]
    if report["rows_dropped"]:
        wanted.insert(1, ("error_file_id", result.dropped, ERROR_PURPOSE, schema, report["rows_dropped"]))
    ids: dict[str, str | None] = {"error_file_id": None}
    for key, local, purpose, kind, rows in wanted:
        if known.get(key):
            ids[key] = known[key]
            continue
        name = f"{job_id}-{local.name}"
        record = files.publish(
            store,
            artifacts,
            team,
            local,
            f"{folder}/{local.name}",
            filename=name,
            purpose=purpose,
            schema=kind,
            rows=rows,
        )
        ids[key] = record.id
        store.set_result(job_id, {**known, **ids})
    return ids


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1]))
    except (RewriterError, ValueError, FileNotFoundError) as exc:  # the reason alone becomes the job's error
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(2)
