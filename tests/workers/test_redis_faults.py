"""Redis restarts under a running service: a private ``redis-server`` with AOF on (``appendfsync everysec``, as
deploy/ runs it) is killed or shut down mid-job and started again on the same files. The job completes in its
first attempt with every row exactly once; while Redis is down the API answers 503 with the error envelope, and
serves again by itself once Redis is back (docs/operations.md)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from rewriter.settings import Settings, WorkerSettings
from tests.conftest import (
    TEST_WORKER,
    Api,
    downstream_rows,
    free_port,
    jsonl_bytes,
    start_worker,
    stop_worker,
    wait_for,
    worker_environment,
)

pytestmark = pytest.mark.integration

# The sweep may not take a job from a supervisor that is waiting for Redis: stale after 5 s, not the suite's 1 s
# (a supervisor's retry backs off up to RedisSettings.backoff_cap_seconds = 1 s before it heartbeats again).
STALE_AFTER = 5.0


class PrivateRedis:
    """A ``redis-server`` of the test's own, AOF on, on a free port and its own directory: started, killed and
    started again on the same files by the test (never the shared Redis)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += [
            "--dir",
            str(self.workdir),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
        ]
        with open(self.workdir / "redis.log", "ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.ConnectionError:  # refused, or still loading the AOF
                return False

        wait_for(answers, 10, "the private redis-server to answer")

    def kill(self) -> None:
        """SIGKILL: what a crash or the OOM killer does; up to a second of acknowledged writes may be lost."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def shutdown(self) -> None:
        """A clean ``SHUTDOWN`` (what a restart by an operator or an orchestrator does): the AOF is flushed."""
        assert self.proc is not None
        redis.Redis.from_url(self.url).shutdown()
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    workdir = tmp_path / "redis"
    workdir.mkdir()
    server = PrivateRedis(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def service_settings(server: PrivateRedis, data_dir: Path) -> Settings:
    changes = {"stale_after_seconds": STALE_AFTER, "shard_rows": 2}
    worker = WorkerSettings(**{**TEST_WORKER.model_dump(), **changes})
    return Settings(redis_url=server.url, data_dir=data_dir, worker=worker)


def lines(content: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in content.splitlines() if line.strip()]


def rewrite_through_an_outage(server: PrivateRedis, tmp_path: Path, outage: str, down_seconds: float) -> None:
    """Run an 8-row rewrite (4 shards) and take Redis down once a shard is done; the job must complete in its
    first attempt with the input's row ids, once each, and no event twice."""
    settings = service_settings(server, tmp_path)
    env = worker_environment(settings.redis_url, tmp_path)
    env["REWRITER_WORKER__STALE_AFTER_SECONDS"] = str(STALE_AFTER)
    worker = start_worker(env, tmp_path, beat=True)  # with its beat: the sweep runs through the outage
    api = Api(settings)
    try:
        rows = downstream_rows(8)
        file = api.upload(jsonl_bytes(rows))
        body = {
            "input_file_id": file["id"],
            "strategy": "guided_resolve",
            "verifier": "toy-number",
            "sampling": {"k": 1, "max_new_tokens": 48},
        }
        path = f"/v1/rewrite_jobs/{api.create('/v1/rewrite_jobs', body)['id']}"
        api.wait(path, set(), 90, until=lambda j: j["progress"]["shards_done"] >= 1)
        before = api.get(path)["progress"]["shards_done"]
        if outage == "kill":
            server.kill()
        else:
            server.shutdown()
        time.sleep(down_seconds)
        server.start()
        done = api.wait(path, {"completed", "failed", "cancelled"}, 90)
        assert done["status"] == "completed", done["error"]
        assert done["progress"]["shards_done"] == 4 and before < 4, f"taken down after {before} shards"
        assert worker.poll() is None, "the worker survived the outage"
        output = lines(api.client.get(f"/v1/files/{done['output_file_id']}/content").content)
        events = [e["message"] for e in api.events(path)]
        attempts = api.store.get_job(done["id"], team=None).attempts
    finally:
        api.close()
        stop_worker(worker)
    assert attempts == 1, "the job rode out the outage instead of being re-queued"
    assert done["row_counts"]["total"] == 8 and done["row_counts"]["completed"] == 8
    assert sorted(r["id"] for r in output) == sorted(r["id"] for r in rows[: done["row_counts"]["kept"]])
    assert len(output) == len({r["id"] for r in output}) == done["row_counts"]["kept"], "every row once"
    assert len(events) == len(set(events)), f"an event was added twice: {events}"


def test_a_killed_redis_restarted_mid_job_loses_nothing(private_redis: PrivateRedis, tmp_path: Path) -> None:
    rewrite_through_an_outage(private_redis, tmp_path, "kill", 1.0)


def test_a_clean_redis_restart_with_a_long_outage_mid_job_loses_nothing(
    private_redis: PrivateRedis, tmp_path: Path
) -> None:
    rewrite_through_an_outage(private_redis, tmp_path, "shutdown", 8.0)


def test_the_api_answers_503_while_redis_is_down_and_recovers(
    private_redis: PrivateRedis, tmp_path: Path
) -> None:
    api = Api(service_settings(private_redis, tmp_path))
    try:
        file = api.upload(jsonl_bytes(downstream_rows(2)))
        private_redis.kill()
        answers: list[tuple[Any, float]] = []
        for method, url, body in [
            ("GET", "/v1/files", None),
            ("GET", f"/v1/files/{file['id']}", None),
            ("POST", "/v1/rewrite_jobs", {"input_file_id": file["id"], "verifier": "toy-number"}),
        ]:
            began = time.monotonic()
            response = api.client.request(method, url, json=body)
            answers.append((response, time.monotonic() - began))
        private_redis.start()
        after = api.client.get(f"/v1/files/{file['id']}")
    finally:
        api.close()
    for response, seconds in answers:
        assert response.status_code == 503, response.text
        error = response.json()["error"]
        assert error["type"] == "server_error" and "temporarily unavailable" in error["message"]
        assert set(error) == {"message", "type", "param", "code"}
        assert seconds < 10, f"answered after {seconds:.1f} s: bounded, not a hang"
    assert after.status_code == 200 and after.json()["id"] == file["id"], "served again once Redis is back"
