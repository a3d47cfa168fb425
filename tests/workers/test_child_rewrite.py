"""A rewrite job survives its worker or its child process being killed mid-job: resumed from the last finished shard,
with every row in the output exactly once."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import redis

from rewriter.settings import Settings, WorkerSettings
from tests.conftest import (
    TEST_WORKER,
    Api,
    downstream_rows,
    jsonl_bytes,
    start_worker,
    stop_worker,
    worker_environment,
)

pytestmark = pytest.mark.integration


def test_killed_worker_resumes_the_rewrite_with_each_row_once(redis_server: str, tmp_path: Path) -> None:
    worker = WorkerSettings(**{**TEST_WORKER.model_dump(), "shard_rows": 2})
    settings = Settings(redis_url=f"{redis_server}/3", data_dir=tmp_path, worker=worker)
    redis.Redis.from_url(settings.redis_url).flushdb()
    env = worker_environment(settings.redis_url, tmp_path)
    first = start_worker(env, tmp_path)
    second = None
    api = Api(settings)
    try:
        rows = downstream_rows(10)
        file = api.upload(jsonl_bytes(rows))
        body = {
            "input_file_id": file["id"],
            "strategy": "guided_resolve",
            "verifier": "toy-number",
            "sampling": {"k": 1, "max_new_tokens": 48},
        }
        job = api.create("/v1/rewrite_jobs", body)
        path = f"/v1/rewrite_jobs/{job['id']}"
        api.wait(path, set(), 60, until=lambda j: j["progress"]["shards_done"] >= 2)
        # The worker, its pool and (through PDEATHSIG) the child die at once, mid-shard.
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        done_before = api.get(path)["progress"]["shards_done"]
        assert api.get(path)["status"] == "in_progress", "killed mid-job"
        second = start_worker(env, tmp_path, beat=True)  # its beat sweeps the stale job back onto the queue
        done = api.wait(path, {"completed", "failed", "cancelled"}, 90)
        content = api.client.get(f"/v1/files/{done['output_file_id']}/content").content
        messages = [e["message"] for e in api.events(path)]
    finally:
        stop_worker(first)
        if second is not None:
            stop_worker(second)
        api.close()
    assert done["status"] == "completed", done["error"]
    assert done["attempts"] == 2 and done["row_counts"]["completed"] == 10
    output = [json.loads(line) for line in content.splitlines()]
    assert [r["id"] for r in output] == [r["id"] for r in rows], "every row once, in input order"
    assert any("re-queued" in m for m in messages)
    resumed = [m for m in messages if m.startswith("Resuming after")]
    assert len(resumed) == 1 and int(resumed[0].split()[2]) >= done_before >= 2
    shards = [m for m in messages if m.startswith("Shard ")]
    assert len(shards) == len(set(shards)) == 5, "each shard computed (and reported) once"


def child_of(job_id: str, module: str) -> int | None:
    """The pid of the job's child process (``python -m <module> <job_id>``), if it runs."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if module.encode() in argv and job_id.encode() in argv:
                return int(entry)
    return None


def test_killed_child_is_retried_and_the_rewrite_completes_with_each_row_once(
    redis_server: str, tmp_path: Path
) -> None:
    worker = WorkerSettings(**{**TEST_WORKER.model_dump(), "shard_rows": 2})
    settings = Settings(redis_url=f"{redis_server}/4", data_dir=tmp_path, worker=worker)
    redis.Redis.from_url(settings.redis_url).flushdb()
    env = worker_environment(settings.redis_url, tmp_path)
    proc = start_worker(env, tmp_path)
    api = Api(settings)
    try:
        rows = downstream_rows(10)
        file = api.upload(jsonl_bytes(rows))
        body = {
            "input_file_id": file["id"],
            "strategy": "guided_resolve",
            "verifier": "toy-number",
            "sampling": {"k": 1, "max_new_tokens": 48},
        }
        job = api.create("/v1/rewrite_jobs", body)
        path = f"/v1/rewrite_jobs/{job['id']}"
        api.wait(path, set(), 60, until=lambda j: j["progress"]["shards_done"] >= 2)
        child = child_of(job["id"], "workers.child_rewrite")
        assert child is not None
        os.kill(child, signal.SIGKILL)  # what the OOM killer does to a model process; its worker lives on
        done = api.wait(path, {"completed", "failed", "cancelled"}, 90)
        content = api.client.get(f"/v1/files/{done['output_file_id']}/content").content
        messages = [e["message"] for e in api.events(path)]
    finally:
        stop_worker(proc)
        api.close()
    assert done["status"] == "completed", done["error"]
    assert done["attempts"] == 2 and done["row_counts"]["completed"] == 10
    output = [json.loads(line) for line in content.splitlines()]
    assert [r["id"] for r in output] == [r["id"] for r in rows], "every row once, in input order"
    retried = [m for m in messages if m.startswith("Attempt ")]
    assert len(retried) == 1 and retried[0].startswith(
        "Attempt 2 of 3 after the process was killed by SIGKILL"
    )
    assert len([m for m in messages if m.startswith("Resuming after")]) == 1
    shards = [m for m in messages if m.startswith("Shard ")]
    assert len(shards) == len(set(shards)) == 5, "each shard computed (and reported) once"
