"""Run a rewrite strategy over a dataset in shards, resumably (DESIGN §3.2).

Layout beside the output file ``OUT``::

    OUT.parts/manifest.json      what run this is (input hash, spec, model, shard size): a rerun must match it
    OUT.parts/shard-00012.jsonl  one finished shard, written atomically: {"kept": bool, "record": {...}} per row
    OUT                          the kept rows in input order (written when all shards are done, or on cancel)
    OUT.dropped.jsonl            rows left out by ``fallback: drop``, with why

A shard's file appears only once the whole shard is written, so a run killed at any point reruns from the first
missing shard: no row is lost and none is written twice. Shards are rewritten with the same seed, so a resumed run
gives the same rows as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewriter import formats, reports, strategies
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


def shard_path(work: Path, index: int) -> Path:
    return work / f"shard-{index:05d}.jsonl"


def finished_shards(output: Path) -> int:
    """How many shards a run into ``output`` has finished so far (0 for a new run): a rerun skips them."""
    work = parts_dir(output)
    return len(list(work.glob("shard-*.jsonl"))) if work.exists() else 0


def dropped_path(output: Path) -> Path:
    return output.with_name(output.stem + ".dropped.jsonl")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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
) -> RunResult:
    """Rewrite ``input_path`` into ``output_path``; resumes a run killed earlier with the same arguments."""
    schema, rows = formats.read_rows(input_path)
    if limit is not None:
        rows = rows[:limit]
    shards = [rows[i : i + shard_rows] for i in range(0, len(rows), shard_rows)]
    work = parts_dir(output_path)
    manifest = {
        "input_sha256": file_sha256(input_path),
        "spec": spec.model_dump(mode="json"),
        "model": model,
        "shard_rows": shard_rows,
        "limit": limit,
        "rows": len(rows),
        "shards": len(shards),
        "output_schema": output_schema,
    }
    _claim(work, manifest)
    verifier = get_verifier(spec.verifier, **spec.verifier_options)
    timers: dict[str, float] = {}
    started = time.perf_counter()
    shards_run = 0
    cancelled = False
    tally: Counter[str] = Counter()  # "kept", "dropped" and "p:<provenance>" over the finished shards
    for index, shard in enumerate(shards):
        path = shard_path(work, index)
        if path.exists():
            records: list[dict[str, Any]] = [json.loads(line) for line in _lines(path)]
        else:
            if should_stop is not None and should_stop():
                cancelled = True
                break
            ctx = strategies.Context(engine, verifier, spec, shard_seed=index)
            records = rewrite_shard(shard, ctx, output_schema)
            _write_atomic(path, (json.dumps(r, ensure_ascii=False) for r in records))
            for phase, seconds in ctx.timers.items():
                timers[phase] = timers.get(phase, 0.0) + seconds
            _write_atomic(work / f"shard-{index:05d}.timers.json", [json.dumps(dict(ctx.timers))])
            shards_run += 1
        tally.update(_tally(records))
        if on_progress is not None:
            done = min(len(rows), (index + 1) * shard_rows)
            on_progress(Progress(done, len(rows), index + 1, len(shards), _row_counts(tally, len(rows))))
    timers["total"] = time.perf_counter() - started
    report = finalize(
        output_path, schema, manifest, timers, rows_computed=sum(len(s) for s in shards[:shards_run])
    )
    counts = RowCounts(
        total=len(rows),
        completed=report["rows"],
        kept=report["rows_kept"],
        dropped=report["rows_dropped"],
        by_provenance=dict(sorted(report["provenance"].items())),
    )
    return RunResult(
        output_path, dropped_path(output_path), report, len(rows), counts, cancelled, shards_run, timers
    )


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
) -> dict[str, Any]:
    """Concatenate the finished shards (all, or those done before a cancel) and write the report."""
    work = parts_dir(output_path)
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


def _shard_lines(work: Path) -> Iterator[str]:
    for path in sorted(work.glob("shard-*.jsonl")):
        yield from _lines(path)


def _lines(path: Path) -> Iterator[str]:
    with path.open() as fh:
        yield from (line for line in fh if line.strip())


def _merge_timers(work: Path) -> dict[str, float]:
    merged: dict[str, float] = {}
    for path in sorted(work.glob("shard-*.timers.json")):
        for phase, seconds in json.loads(path.read_text()).items():
            merged[phase] = merged.get(phase, 0.0) + seconds
    return merged


def _claim(work: Path, manifest: dict[str, Any]) -> None:
    """Create the work folder, or check that the one there belongs to the same run."""
    work.mkdir(parents=True, exist_ok=True)
    path = work / "manifest.json"
    if path.exists():
        previous = json.loads(path.read_text())
        if previous != manifest:
            changed = sorted(k for k in manifest if previous.get(k) != manifest[k])
            raise ValueError(
                f"{work} holds a run with different {', '.join(changed)}; delete it or write to another output"
            )
        return
    _write_atomic(path, [json.dumps(manifest, indent=2)])


def _write_atomic(path: Path, lines: Iterator[str] | list[str]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w") as fh:
        for line in lines:
            fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
