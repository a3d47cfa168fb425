"""The rewrite pipeline on the toy backbone: provenance per row, resumability, exactly-once output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rewriter import pipeline
from rewriter.engines import load_engine
from rewriter.results import RowCounts
from rewriter.specs import StrategySpec
from rewriter.suites import get_suite
from tests.conftest import WAIT_SCALE

PROVENANCES = {"self", "guided", "rewritten", "expert_fallback", "original"}


def write_downstream(path: Path, n: int, suite: str = "downstream") -> list[str]:
    ids = []
    with path.open("w") as fh:
        for i, ex in enumerate(get_suite(suite).examples("train", n, seed=3)):
            ids.append(f"r{i}")
            fh.write(
                json.dumps({"id": f"r{i}", "question": ex.question, "answer": ex.expert, "gold": ex.gold})
                + "\n"
            )
    return ids


def read_ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.open()]


@pytest.fixture(scope="module")
def engine():
    return load_engine("toy", "hf", "cpu")


def spec(strategy: str, **kw) -> StrategySpec:
    return StrategySpec(strategy=strategy, verifier="toy-number", max_new_tokens=80, **kw)


def test_guided_resolve_moves_targets_toward_the_model(tmp_path: Path, engine) -> None:
    ids = write_downstream(tmp_path / "in.jsonl", 24)
    result = pipeline.run(
        tmp_path / "in.jsonl", tmp_path / "out.jsonl", spec("guided_resolve"), engine, shard_rows=8
    )
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").open()]
    assert [r["id"] for r in rows] == ids
    for row in rows:
        meta = row["meta"]
        assert meta["provenance"] in PROVENANCES - {"original", "rewritten"}
        assert set(meta["nll"]["original"]) == {"qa", "chat", "tokens", "over_1nat"}
        if meta["provenance"] in ("self", "guided"):
            assert meta["gate"]["status"] == "pass"
            assert meta["gate"]["predicted"] == row["gold"]
            assert (
                row["answer"]
                != json.loads((tmp_path / "in.jsonl").read_text().splitlines()[ids.index(row["id"])])[
                    "answer"
                ]
            )
            assert len(meta["generator"]["token_logprobs"]) >= len(row["answer"])
        else:
            assert meta["generator"] is None
    report = result.report
    assert report["rows"] == 24 and report["acceptance_rate"] > 0.5
    for provenance in ("self", "guided"):
        part = report["by_provenance"].get(provenance)
        if part:  # the model's own answers cost a fraction of the expert prose under the base
            assert part["nll_after"]["mean"] < part["nll_before"]["mean"] / 3
    assert report["nll_after"]["qa"]["mean"] < report["nll_before"]["qa"]["mean"]
    # the sampler before selection: every candidate counted, each passing one scored (min_nll needs it)
    metas = [row["meta"] for row in rows]
    candidates = report["candidates"]
    assert candidates["sampled"] == sum(m["attempts"] for m in metas) >= 4 * 24
    assert (
        candidates["passed"] == sum(m["passed"] for m in metas) == sum(len(m["candidate_nll"]) for m in metas)
    )
    assert candidates["pass_rate"] == round(candidates["passed"] / candidates["sampled"], 4)
    chosen = [m["nll"]["chosen"]["qa"] for m in metas if m["provenance"] != "expert_fallback"]
    best = [min(m["candidate_nll"]) for m in metas if m["provenance"] != "expert_fallback"]
    assert chosen == pytest.approx(best, abs=1e-3)  # min_nll picked the cheapest passing candidate
    assert candidates["nll_passing"]["mean"] >= sum(best) / len(best) - 1e-3


def test_identity_passes_rows_through(tmp_path: Path, engine) -> None:
    write_downstream(tmp_path / "in.jsonl", 6)
    pipeline.run(tmp_path / "in.jsonl", tmp_path / "out.jsonl", spec("identity"), engine)
    original = [json.loads(line) for line in (tmp_path / "in.jsonl").open()]
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").open()]
    for before, after in zip(original, rows, strict=True):
        assert after["answer"] == before["answer"]
        assert after["meta"]["provenance"] == "original"
        assert after["meta"]["nll"]["original"] == after["meta"]["nll"]["chosen"]


def test_fallback_drop_leaves_failed_rows_out(tmp_path: Path, engine) -> None:
    path = tmp_path / "in.jsonl"
    with path.open("w") as fh:  # the gold is deliberately wrong: no candidate can pass
        fh.write(
            json.dumps({"id": "bad", "question": "12+5", "answer": "The result is 99.", "gold": "99"}) + "\n"
        )
        fh.write(
            json.dumps({"id": "ok", "question": "12+5", "answer": "The result is 17.", "gold": "17"}) + "\n"
        )
    result = pipeline.run(path, tmp_path / "out.jsonl", spec("guided_resolve", fallback="drop"), engine)
    assert read_ids(tmp_path / "out.jsonl") == ["ok"]
    assert read_ids(result.dropped) == ["bad"]
    assert result.report["rows_dropped"] == 1
    counts = result.row_counts
    assert (counts.total, counts.completed, counts.kept, counts.dropped) == (2, 2, 1, 1)
    assert sum(counts.by_provenance.values()) == 2


def test_unverifiable_gold_is_marked_not_guessed(tmp_path: Path, engine) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(
        json.dumps({"id": "u", "question": "12+5", "answer": "no number here", "gold": "n/a"}) + "\n"
    )
    result = pipeline.run(path, tmp_path / "out.jsonl", spec("guided_resolve"), engine)
    row = json.loads((tmp_path / "out.jsonl").read_text())
    assert row["meta"]["gate"]["status"] == "unverifiable"
    assert row["meta"]["provenance"] == "expert_fallback"
    assert result.report["unverifiable"] == 1


def test_rerun_with_other_settings_is_refused(tmp_path: Path, engine) -> None:
    write_downstream(tmp_path / "in.jsonl", 4)
    pipeline.run(tmp_path / "in.jsonl", tmp_path / "out.jsonl", spec("identity"), engine)
    with pytest.raises(ValueError, match="different"):
        pipeline.run(tmp_path / "in.jsonl", tmp_path / "out.jsonl", spec("identity", seed=5), engine)


def test_cancel_keeps_the_finished_shards(tmp_path: Path, engine) -> None:
    ids = write_downstream(tmp_path / "in.jsonl", 12)
    calls = iter([False, True])
    result = pipeline.run(
        tmp_path / "in.jsonl", tmp_path / "out.jsonl", spec("identity"), engine, shard_rows=4,
        should_stop=lambda: next(calls, True),
    )  # fmt: skip
    assert result.cancelled
    assert read_ids(tmp_path / "out.jsonl") == ids[:4]


def test_progress_counts_the_rows_of_every_finished_shard(tmp_path: Path, engine) -> None:
    write_downstream(tmp_path / "in.jsonl", 10)
    out = tmp_path / "out.jsonl"
    seen: list[pipeline.Progress] = []
    calls = iter([False, True])
    first = pipeline.run(
        tmp_path / "in.jsonl", out, spec("identity"), engine, shard_rows=4,
        on_progress=seen.append, should_stop=lambda: next(calls, True),
    )  # fmt: skip
    assert first.cancelled and pipeline.finished_shards(out) == 1
    assert first.row_counts == RowCounts(total=10, completed=4, kept=4, by_provenance={"original": 4})
    result = pipeline.run(
        tmp_path / "in.jsonl", out, spec("identity"), engine, shard_rows=4, on_progress=seen.append
    )  # the rerun skips the finished shard and still counts its rows
    assert [p.row_counts.completed for p in seen] == [4, 4, 8, 10]
    assert seen[-1].row_counts == result.row_counts
    assert result.row_counts == RowCounts(total=10, completed=10, kept=10, by_provenance={"original": 10})
    assert result.shards_run == 2 and pipeline.finished_shards(out) == 3


def test_killed_rewrite_resumes_with_each_row_exactly_once(tmp_path: Path) -> None:
    ids = write_downstream(tmp_path / "in.jsonl", 40)
    out = tmp_path / "out.jsonl"
    cmd = [
        sys.executable, "-m", "cli.main", "rewrite", str(tmp_path / "in.jsonl"), "-o", str(out),
        "--strategy", "guided_resolve", "--verifier", "toy-number", "--shard-rows", "4", "--max-new-tokens", "80",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    parts = pipeline.parts_dir(out)
    deadline = time.monotonic() + 120 * WAIT_SCALE
    while time.monotonic() < deadline and len(list(parts.glob("shard-*.jsonl"))) < 2:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished_before = len(list(parts.glob("shard-*.jsonl")))
    assert 2 <= finished_before < 10, "the kill must land mid-run"
    assert not out.exists()
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert read_ids(out) == ids  # every row exactly once, in input order
    assert len(list(parts.glob("shard-*.jsonl"))) == 10
