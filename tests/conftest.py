"""Shared fixtures: a private redis-server, settings on tmp paths, an HTTP client, real Celery workers.

Nothing here touches the shared Redis on 6379: the session starts its own ``redis-server`` on a free port with no
persistence. Databases: 0 for the session's Celery worker, 1 for everything else (flushed before each test),
2+ for tests that start workers of their own.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from rewriter.settings import Settings, WorkerSettings
from rewriter.storage import Storage
from rewriter.store import Store

REPO = Path(__file__).resolve().parent.parent
# Fast supervision for tests: a dead worker's job is noticed within ~1.5 s instead of ~45 s.
TEST_WORKER = WorkerSettings(heartbeat_seconds=0.2, stale_after_seconds=1.0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``redis://127.0.0.1:<port>`` of a private redis-server (no db suffix)."""
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        + ["--dir", str(workdir), "--databases", "16"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"redis://127.0.0.1:{port}"
    client = redis.Redis.from_url(base)

    def answers() -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    try:
        wait_for(answers, 10, "redis-server to start")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def redis_url(redis_server: str) -> str:
    url = f"{redis_server}/1"
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def settings(redis_url: str, tmp_path: Path) -> Settings:
    return Settings(redis_url=redis_url, data_dir=tmp_path, worker=TEST_WORKER)


@pytest.fixture
def store(settings: Settings) -> Store:
    return Store.from_url(settings.redis_url)


@pytest.fixture
def storage(settings: Settings) -> Storage:
    return Storage(settings.artifacts_url)


@pytest.fixture
def child_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Point child processes started by the test process (the supervisor's children) at the test's Redis."""
    monkeypatch.setenv("REWRITER_REDIS_URL", settings.redis_url)
    monkeypatch.setenv("REWRITER_DATA_DIR", str(settings.data_dir))
    return settings


def worker_environment(redis_url: str, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        REWRITER_REDIS_URL=redis_url,
        REWRITER_DATA_DIR=str(data_dir),
        REWRITER_WORKER__HEARTBEAT_SECONDS=str(TEST_WORKER.heartbeat_seconds),
        REWRITER_WORKER__STALE_AFTER_SECONDS=str(TEST_WORKER.stale_after_seconds),
    )
    return env


def start_worker(env: dict[str, str], logdir: Path, *, beat: bool = False) -> subprocess.Popen[bytes]:
    """A real ``celery worker`` process (prefork, one slot) in its own session; returns once it is ready."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    log = logdir / f"{name}.log"
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers.celery_app",
        "worker",
        "-Q",
        "cpu,gpu",
        "-c",
        "1",
    ]
    command += ["--pool", "prefork", "--loglevel", "INFO", "-n", f"{name}@%h"]
    command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    if beat:
        command += ["-B", "--schedule", str(logdir / f"{name}-beat")]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            command, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"celery worker exited early:\n{log.read_text()}")
        return b"ready." in log.read_bytes()

    wait_for(ready, 30, "the celery worker to be ready", interval=0.1)
    return proc


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    import signal

    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="session")
def celery_worker(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A session-long Celery worker on db 0; yields the settings a test uses to record and enqueue jobs."""
    data_dir = tmp_path_factory.mktemp("worker-data")
    settings = Settings(redis_url=f"{redis_server}/0", data_dir=data_dir, worker=TEST_WORKER)
    proc = start_worker(worker_environment(settings.redis_url, data_dir), data_dir)
    try:
        yield settings
    finally:
        stop_worker(proc)
