"""A rewrite job spread over several workers: the same bytes as one process for the same seed, every row once when
a helper is killed mid-shard, and a job resumed on another host (a fresh data dir) from the shards in S3."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import fsspec
import pytest
import redis

from rewriter import pipeline
from rewriter.engines import load_engine
from rewriter.settings import Settings, WorkerSettings
from rewriter.specs import StrategySpec
from tests.conftest import (
    TEST_WORKER,
    Api,
    downstream_rows,
    jsonl_bytes,
    start_worker,
    stop_worker,
    wait_for,
    worker_environment,
)
from tests.workers.test_child_rewrite import child_of

pytestmark = pytest.mark.integration

SHARD_ROWS = 2
BODY: dict[str, Any] = {
    "strategy": "guided_resolve",
    "verifier": "toy-number",
    "sampling": {"k": 1, "max_new_tokens": 32},
}
FINAL = {"completed", "failed", "cancelled"}


def environment(settings: Settings, helpers: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = worker_environment(settings.redis_url, settings.data_dir)
    env.update(
        REWRITER_WORKER__SHARD_HELPERS=str(helpers),
        REWRITER_WORKER__SHARD_LEASE_SECONDS="2",
        REWRITER_WORKER__SHARD_ROWS=str(SHARD_ROWS),
        **(extra or {}),
    )
    return env


def settings_for(redis_server: str, db: int, data_dir: Path, storage_url: str | None = None) -> Settings:
    data_dir.mkdir(parents=True, exist_ok=True)
    worker = WorkerSettings(**{**TEST_WORKER.model_dump(), "shard_rows": SHARD_ROWS})
    settings = Settings(
        redis_url=f"{redis_server}/{db}", data_dir=data_dir, worker=worker, storage_url=storage_url
    )
    redis.Redis.from_url(settings.redis_url).flushdb()
    return settings


def output_of(api: Api, done: dict[str, Any]) -> bytes:
    assert done["status"] == "completed", done["error"]
    return bytes(api.client.get(f"/v1/files/{done['output_file_id']}/content").content)


def kill_a_busy_helper(api: Api, job_id: str) -> int | None:
    """SIGKILL a helper process that finished a shard (so it is at work on its next one); its pid, or None when
    the job ended first."""
    path = f"/v1/rewrite_jobs/{job_id}"
    killed: list[int] = []

    def helper_busy() -> bool:
        pid = child_of(job_id, "workers.child_shards")
        done_by = {int(o.rsplit(":", 1)[1]) for o in api.store.shard_owners(job_id).values()}
        if pid is not None and pid in done_by:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        return bool(killed) or api.get(path)["status"] in FINAL

    wait_for(helper_busy, 120, "a helper to finish a shard")
    return killed[0] if killed else None


def test_three_workers_write_the_bytes_one_process_writes_even_with_a_helper_killed(
    redis_server: str, tmp_path: Path
) -> None:
    rows = downstream_rows(12)
    settings = settings_for(redis_server, 6, tmp_path / "service")
    env = environment(settings, helpers=2)
    procs = [start_worker(env, settings.data_dir) for _ in range(3)]
    api = Api(settings)
    try:
        file = api.upload(jsonl_bytes(rows))
        job = api.create("/v1/rewrite_jobs", {**BODY, "input_file_id": file["id"]})
        path = f"/v1/rewrite_jobs/{job['id']}"
        killed = kill_a_busy_helper(api, job["id"])
        # Meanwhile nothing else: the reference is computed after the workers stop (one process, every shard).
        done = api.wait(path, FINAL, 120)
        output = output_of(api, done)
        owners = api.store.shard_owners(job["id"])
        messages = [e["message"] for e in api.events(path)]
    finally:
        for proc in procs:
            stop_worker(proc)
        api.close()
    # One process doing every shard in turn: what one worker does (the in-process pipeline is the job's runner).
    (tmp_path / "input.jsonl").write_bytes(jsonl_bytes(rows))
    sampling = BODY["sampling"]
    spec = StrategySpec(
        strategy="guided_resolve",
        verifier="toy-number",
        k=sampling["k"],
        max_new_tokens=sampling["max_new_tokens"],
    )
    pipeline.run(
        tmp_path / "input.jsonl", tmp_path / "one.jsonl", spec, load_engine("toy"), shard_rows=SHARD_ROWS
    )
    assert output == (tmp_path / "one.jsonl").read_bytes(), (
        "the same seed gives the same bytes, 1 or 3 workers"
    )
    assert [json.loads(line)["id"] for line in output.splitlines()] == [r["id"] for r in rows]
    assert len(owners) == 6 and len(set(owners.values())) >= 2, f"shards spread over processes: {owners}"
    assert killed is not None, "a helper was killed mid-job"
    assert any(m.startswith("A shard helper stopped: the process was killed by SIGKILL") for m in messages)
    shards = [m for m in messages if m.startswith("Shard ")]
    assert len(shards) == len(set(shards)) == 6, "each shard reported once by the job"


def test_a_job_resumes_on_another_host_from_the_shards_in_s3(
    redis_server: str, s3_url: str, s3_server: dict[str, str], tmp_path: Path
) -> None:
    first_dir, second_dir = tmp_path / "host-a", tmp_path / "host-b"
    settings = settings_for(redis_server, 7, first_dir, storage_url=s3_url)
    rows = downstream_rows(8)
    api = Api(settings)
    first = start_worker(environment(settings, 0, {"REWRITER_STORAGE_URL": s3_url, **s3_server}), first_dir)
    second = None
    try:
        file = api.upload(jsonl_bytes(rows))
        job = api.create("/v1/rewrite_jobs", {**BODY, "input_file_id": file["id"]})
        path = f"/v1/rewrite_jobs/{job['id']}"
        api.wait(path, set(), 120, until=lambda j: j["progress"]["shards_done"] >= 1)
        os.killpg(first.pid, signal.SIGKILL)  # host A is gone: worker, pool and child at once
        first.wait()
        # Host B: another data dir (no input copy, no work folder), the same Redis and S3 store.
        env = worker_environment(settings.redis_url, second_dir)
        env.update(REWRITER_STORAGE_URL=s3_url, REWRITER_WORKER__SHARD_HELPERS="0", **s3_server)
        second_dir.mkdir()
        second = start_worker(env, second_dir, beat=True)
        done = api.wait(path, FINAL, 120)
        content = output_of(api, done)
        messages = [e["message"] for e in api.events(path)]
    finally:
        stop_worker(first)
        if second is not None:
            stop_worker(second)
        api.close()
    assert [json.loads(line)["id"] for line in content.splitlines()] == [r["id"] for r in rows], (
        "each row once"
    )
    resumed = [m for m in messages if m.startswith("Resuming after")]
    assert len(resumed) == 1 and int(resumed[0].split()[2]) >= 1
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    stored = fs.ls(f"{s3_url[len('s3://') :]}/work/{job['id']}", detail=False)
    assert sum(1 for p in stored if p.endswith(".jsonl") and "/shard-" in p) == 4
    assert not list(first_dir.rglob("shard-*.jsonl")) and not list(second_dir.rglob("shard-*.jsonl"))
    assert (second_dir / "work" / job["id"] / "input.jsonl").exists(), "host B fetched its own input copy"


@pytest.mark.slow
def test_a_small_job_is_not_starved_by_a_huge_one(redis_server: str, tmp_path: Path) -> None:
    """Two worker slots; a huge job's helper takes turns of 1 s, so a small job queued after it gets the second
    slot within a turn and completes while the huge job still runs (interleaved, not queued behind it)."""
    settings = settings_for(redis_server, 8, tmp_path / "data")
    settings = settings.model_copy(update={"worker": settings.worker.model_copy(update={"shard_rows": 1})})
    env = environment(settings, helpers=1, extra={"REWRITER_WORKER__SHARD_TURN_SECONDS": "1"})
    procs = [start_worker(env, settings.data_dir) for _ in range(2)]
    api = Api(settings)
    identity = {"strategy": "identity", "verifier": "toy-number"}
    try:
        huge = api.create(
            "/v1/rewrite_jobs",
            {**identity, "input_file_id": api.upload(jsonl_bytes(downstream_rows(120)))["id"]},
        )
        huge_path = f"/v1/rewrite_jobs/{huge['id']}"
        api.wait(huge_path, FINAL, 120, until=lambda j: j["progress"]["shards_done"] >= 2)
        small = api.create(
            "/v1/rewrite_jobs",
            {**identity, "input_file_id": api.upload(jsonl_bytes(downstream_rows(1)))["id"]},
        )
        done = api.wait(f"/v1/rewrite_jobs/{small['id']}", FINAL, 120)
        huge_then = api.get(huge_path)
        huge_done = api.wait(huge_path, FINAL, 300)
    finally:
        for proc in procs:
            stop_worker(proc)
        api.close()
    assert done["status"] == "completed", done["error"]
    assert huge_then["status"] == "in_progress", (
        f"the small job waited for the huge one: {huge_then['progress']}"
    )
    assert huge_done["status"] == "completed" and huge_done["row_counts"]["completed"] == 120
