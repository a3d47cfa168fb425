"""Run a rewrite strategy over a dataset in shards, resumably (DESIGN §3.2).

Layout beside the output file ``OUT``::

    OUT.parts/manifest.json      what run this is (input hash, spec, model, shard size): a rerun must match it
    OUT.parts/shard-00012.jsonl  one finished shard, written atomically: {"kept": bool, "record": {...}} per row
    OUT                          the kept rows in input order (written when all shards are done, or on cancel)
    OUT.dropped.jsonl            rows left out by ``fallback: drop``, with why

A shard's file appears only once the whole shard is written (``rewriter.shards.Parts.write``), so a run killed at
any point reruns the missing shards: no row is lost and none is written twice. Each shard is rewritten with its
own seed (its index), so a resumed run, or one whose shards several processes shared, gives the same rows as an
uninterrupted one. A service job keeps this folder in the artifact store (``<storage>/work/<job_id>``), and its
processes share the shards through claims (``rewriter.shards.Claims``); ``run`` waits for the shards others hold
and assembles the output, ``compute`` alone is what a helping process runs.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewriter import formats, reports, shards, strategies
from rewriter.engines.base import Engine, mean_nll
from rewriter.records import Row, Schema
from rewriter.results import RowCounts
from rewriter.specs import StrategySpec
from rewriter.verifiers import get_verifier

SHARD_ROWS = (
    64  # one batched engine pass per stage; ~10-20 s per shard for guided_resolve on the toy, 2 cores
)


class Cancelled(Exception):
    """The run stopped at a shard boundary because it was asked to."""


@dataclass
class Progress:
    rows_done: int
    rows_total: int
    shards_done: int
    shards_total: int
    row_counts: RowCounts  # of the finished shards


@dataclass
class RunResult:
    output: Path
    dropped: Path
    report: dict[str, Any]
    rows_total: int
    row_counts: RowCounts  # of the rows written (all, or those done before a cancel)
    cancelled: bool = False
    shards_run: int = 0  # shards computed by this call (the rest were already done)
    timers: dict[str, float] = field(default_factory=dict)


def parts_dir(output: Path) -> Path:
    return output.with_name(output.name + ".parts")


def finished_shards(output: Path) -> int:
    """How many shards a run into ``output`` has finished so far (0 for a new run): a rerun skips them."""
    return len(shards.Parts.at(parts_dir(output)).finished())


def dropped_path(output: Path) -> Path:
    return output.with_name(output.stem + ".dropped.jsonl")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Plan:
    """A run cut into shards: every process of the run cuts the same input the same way."""

    schema: Schema
    rows: list[Row]
    shards: list[list[Row]]
    manifest: dict[str, Any]


def plan(
    input_path: Path,
    spec: StrategySpec,
    *,
    model: str = "toy",
    shard_rows: int = SHARD_ROWS,
    limit: int | None = None,
    output_schema: Schema | None = None,
) -> Plan:
    schema, rows = formats.read_rows(input_path)
    if limit is not None:
        rows = rows[:limit]
    cut = [rows[i : i + shard_rows] for i in range(0, len(rows), shard_rows)]
    manifest = {
        "input_sha256": file_sha256(input_path),
        "spec": spec.model_dump(mode="json"),
        "model": model,
        "shard_rows": shard_rows,
        "limit": limit,
        "rows": len(rows),
        "shards": len(cut),
        "output_schema": output_schema,
    }
    return Plan(schema, rows, cut, manifest)


def run(
    input_path: Path,
    output_path: Path,
    spec: StrategySpec,
    engine: Engine,
    *,
    model: str = "toy",
    shard_rows: int = SHARD_ROWS,
    limit: int | None = None,
    output_schema: Schema | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    parts: shards.Parts | None = None,
    claims: Callable[[int], shards.Claims] = shards.InOrder,
    poll_seconds: float = 0.5,
) -> RunResult:
    """Rewrite ``input_path`` into ``output_path``; resumes a run killed earlier with the same arguments.

    The finished shards go to ``parts`` (default: ``OUT.parts/`` beside the output). ``claims(total)`` hands out
    the shards this process computes (default: all, in order); when other processes hold the rest, this one waits
    for their shards to appear (polling every ``poll_seconds``), then writes the output in row order.
    """
    job = plan(input_path, spec, model=model, shard_rows=shard_rows, limit=limit, output_schema=output_schema)
    parts = parts if parts is not None else shards.Parts.at(parts_dir(output_path))
    rows, cut = job.rows, job.shards
    done: dict[int, Counter[str]] = {}  # finished shard → its tally ("kept", "dropped", "p:<provenance>")

    def report() -> None:
        """Count the shards finished since the last look (by any process) and report them."""
        new = [i for i in parts.finished() if i < len(cut) and i not in done]
        for index in new:
            done[index] = _tally(json.loads(line) for line in parts.lines(shards.shard_name(index)))
        if new and on_progress is not None:
            tally = sum(done.values(), Counter())
            rows_done = sum(len(cut[i]) for i in done)
            on_progress(Progress(rows_done, len(rows), len(done), len(cut), _row_counts(tally, len(rows))))

    def wait() -> bool:
        """No shard is free: wait for those other processes hold (False once every shard is written)."""
        report()
        if len(done) < len(cut):
            time.sleep(poll_seconds)
            report()
        return len(done) < len(cut)

    timers: dict[str, float] = {}
    started = time.perf_counter()
    report()
    work = compute(
        job, parts, claims(len(cut)), engine, spec, output_schema, should_stop, report, timers, wait=wait
    )
    computed = list(work)
    report()
    cancelled = len(done) < len(cut)  # compute stops early only when asked to
    timers["total"] = time.perf_counter() - started
    report_ = finalize(
        output_path,
        job.schema,
        job.manifest,
        timers,
        rows_computed=sum(len(cut[i]) for i in computed),
        parts=parts,
    )
    counts = RowCounts(
        total=len(rows),
        completed=report_["rows"],
        kept=report_["rows_kept"],
        dropped=report_["rows_dropped"],
        by_provenance=dict(sorted(report_["provenance"].items())),
    )
    return RunResult(
        output_path, dropped_path(output_path), report_, len(rows), counts, cancelled, len(computed), timers
    )


def compute(
    job: Plan,
    parts: shards.Parts,
    claims: shards.Claims,
    engine: Engine,
    spec: StrategySpec,
    output_schema: Schema | None,
    should_stop: Callable[[], bool] | None = None,
    after_shard: Callable[[], None] | None = None,
    timers: dict[str, float] | None = None,
    until: float | None = None,
    wait: Callable[[], bool] | None = None,
) -> Iterator[int]:
    """Rewrite the shards ``claims`` hands out, each written atomically to ``parts``; yields each index written.

    Stops when no shard is free (unless ``wait()``, called then, says to look again), when ``should_stop()``
    says so (checked before each claim), or once the ``time.monotonic()`` deadline ``until`` has passed. Each shard is rewritten with its own seed (its index), so
    its rows are the same whichever process computes it.
    """
    _claim(parts, job.manifest)
    verifier = get_verifier(spec.verifier, **spec.verifier_options)
    while until is None or time.monotonic() < until:
        if should_stop is not None and should_stop():
            return
        index = claims.claim()
        if index is None:
            if wait is not None and wait():
                continue
            return
        if parts.exists(shards.shard_name(index)):  # finished by an earlier attempt or another process
            claims.finish(index)
            continue
        ctx = strategies.Context(engine, verifier, spec, shard_seed=index)
        records = rewrite_shard(job.shards[index], ctx, output_schema)
        # The timers first: a shard that exists has its timers beside it.
        parts.write(shards.timers_name(index), [json.dumps(dict(ctx.timers))])
        parts.write(shards.shard_name(index), (json.dumps(r, ensure_ascii=False) for r in records))
        claims.finish(index)
        if timers is not None:
            for phase, seconds in ctx.timers.items():
                timers[phase] = timers.get(phase, 0.0) + seconds
        yield index
        if after_shard is not None:
            after_shard()


def _tally(records: Iterable[dict[str, Any]]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for entry in records:
        counts["kept" if entry["kept"] else "dropped"] += 1
        counts["p:" + entry["record"].get("meta", {}).get("provenance", "unknown")] += 1
    return counts


def _row_counts(tally: Counter[str], total: int) -> RowCounts:
    return RowCounts(
        total=total,
        completed=tally["kept"] + tally["dropped"],
        kept=tally["kept"],
        dropped=tally["dropped"],
        by_provenance={k[2:]: v for k, v in sorted(tally.items()) if k.startswith("p:")},
    )


def rewrite_shard(
    rows: list[Row], ctx: strategies.Context, output_schema: Schema | None
) -> list[dict[str, Any]]:
    """Decide every row of one shard, score the original and chosen targets, and build the output records."""
    decisions = strategies.run(rows, ctx)
    originals = [r.answer for r in rows]
    chosen = [d.target if d.target is not None else d.row.answer for d in decisions]
    questions = [r.question for r in rows]
    conversations = [formats.chat_prompt(r) for r in rows]  # system prompt and earlier turns: what SFT sees
    with ctx.timed("score"):
        # One batched pass per (target set, conditioning): originals and chosen, QA and chat prompts.
        texts = originals + chosen
        qa = ctx.engine.score(questions + questions, texts, conditioning="qa")
        chat = ctx.engine.score(conversations + conversations, texts, conditioning="chat")
    n = len(rows)
    records = []
    for i, decision in enumerate(decisions):
        gen = decision.chosen.generation if decision.chosen else None
        meta: dict[str, Any] = {
            "provenance": decision.provenance.value,
            "strategy": ctx.spec.strategy,
            **({"stage": decision.stage} if decision.stage else {}),
            "attempts": len(decision.candidates),
            "passed": sum(c.passed for c in decision.candidates),
            # QA NLL of every passing candidate (scored when the selection needs it): the sampler's own quality,
            # before selection picks the best of k
            "candidate_nll": [round(c.nll, 4) for c in decision.candidates if c.passed and c.nll is not None],
            "gate": strategies.describe(decision),
            "nll": {"original": _nll(qa[i], chat[i]), "chosen": _nll(qa[n + i], chat[n + i])},
            "generator": (
                {
                    "logprob_sum": round(gen.logprob_sum, 4),
                    "token_logprobs": [round(x, 4) for x in gen.logprobs],
                }
                if gen is not None
                else None
            ),
            "reward": (
                {k: round(v, 4) for k, v in vars(decision.chosen.reward).items()}
                if decision.chosen is not None and decision.chosen.reward is not None
                else None
            ),
            "seed": ctx.spec.seed,
        }
        kept = decision.target is not None
        record = formats.output_record(decision.row, chosen[i], meta, output_schema)
        records.append({"kept": kept, "record": record})
    return records


def _nll(qa: list[float], chat: list[float]) -> dict[str, float | int]:
    return {
        "qa": round(mean_nll(qa), 4),
        "chat": round(mean_nll(chat), 4),
        "tokens": len(qa),
        "over_1nat": sum(1 for lp in qa if -lp > 1.0),
    }


def finalize(
    output_path: Path,
    schema: Schema,
    manifest: dict[str, Any],
    timers: dict[str, float],
    rows_computed: int,
    parts: shards.Parts | None = None,
) -> dict[str, Any]:
    """Concatenate the finished shards (all, or those done before a cancel) in row order and build the report."""
    work = parts if parts is not None else shards.Parts.at(parts_dir(output_path))
    kept: list[dict[str, Any]] = []
    dropped: list[dict[str, Any]] = []
    metas: list[dict[str, Any]] = []
    for line in _shard_lines(work):
        entry = json.loads(line)
        (kept if entry["kept"] else dropped).append(entry["record"])
        metas.append(entry["record"].get("meta", {}))
    formats.write_jsonl(output_path, kept)
    formats.write_jsonl(dropped_path(output_path), dropped)
    shard_timers = _merge_timers(work)
    report = reports.build(
        metas,
        [_target_text(r) for r in kept],
        timers={**shard_timers, "total": timers.get("total", 0.0)},
        rows_computed=rows_computed,
        manifest=manifest,
    )
    return report


def _target_text(record: dict[str, Any]) -> str:
    if "completion" in record:
        return str(record["completion"])
    if "messages" in record:
        return str(next(m["content"] for m in reversed(record["messages"]) if m.get("role") == "assistant"))
    return str(record.get("answer", ""))


def _shard_lines(work: shards.Parts) -> Iterator[str]:
    for index in work.finished():
        yield from work.lines(shards.shard_name(index))


def _merge_timers(work: shards.Parts) -> dict[str, float]:
    merged: dict[str, float] = {}
    for index in work.finished():
        for phase, seconds in work.read_json(shards.timers_name(index)).items():
            merged[phase] = merged.get(phase, 0.0) + seconds
    return merged


def _claim(work: shards.Parts, manifest: dict[str, Any]) -> None:
    """Check that the folder belongs to the same run, or mark it as this run's (every process of a run writes the
    same manifest, so two writing at once agree)."""
    if work.exists("manifest.json"):
        previous = work.read_json("manifest.json")
        if previous != manifest:
            changed = sorted(k for k in manifest if previous.get(k) != manifest[k])
            raise ValueError(
                f"{work.root} holds a run with different {', '.join(changed)}; delete it or write to another output"
            )
        return
    work.write("manifest.json", [json.dumps(manifest, indent=2)])
