"""Shared fixtures: a private redis-server, settings on tmp paths, an HTTP client, real Celery workers.

Nothing here touches the shared Redis on 6379: the session starts its own ``redis-server`` on a free port with no
persistence. Databases: 0 for the session's Celery worker, 1 for everything else (flushed before each test),
2+ for tests that start workers of their own.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from rewriter.service.artifacts import Artifacts
from rewriter.service.store import Store
from rewriter.settings import Settings, WorkerSettings

REPO = Path(__file__).resolve().parent.parent
# Fast supervision for tests: a dead worker's job is noticed within ~1.5 s instead of ~45 s.
# Two training processes allowed: the data-parallel fine-tuning tests run 2 ranks.
TEST_WORKER = WorkerSettings(
    heartbeat_seconds=0.2, stale_after_seconds=1.0, retry_backoff_seconds=0.2, max_train_processes=2
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Waits are hang guards, not speed checks: on a loaded 2-core machine a worker's first model load alone can take a
# minute, so every wait gets this much slack (REWRITER_TEST_WAIT_SCALE to change it).
WAIT_SCALE = float(os.environ.get("REWRITER_TEST_WAIT_SCALE", "4"))


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.05) -> None:
    timeout *= WAIT_SCALE
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
def artifacts(settings: Settings) -> Artifacts:
    return Artifacts(settings.artifacts_url)


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
        REWRITER_WORKER__RETRY_BACKOFF_SECONDS=str(TEST_WORKER.retry_backoff_seconds),
        REWRITER_WORKER__MAX_TRAIN_PROCESSES=str(TEST_WORKER.max_train_processes),
    )
    return env


def start_worker(
    env: dict[str, str], logdir: Path, *, beat: bool = False, concurrency: int = 1
) -> subprocess.Popen[bytes]:
    """A real ``celery worker`` process (prefork, ``concurrency`` slots) in its own session; returns once it is
    ready."""
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
        str(concurrency),
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


# ---- the service: an app (in-process or a real uvicorn) in front of the session's worker ------------------------


class Api:
    """A TestClient for one team, bound to the session worker's Redis and data dir, with job helpers."""

    def __init__(self, settings: Settings, team: str = "acme") -> None:
        from fastapi.testclient import TestClient

        from app.main import create_app

        self.settings = settings
        self.store = Store.from_url(settings.redis_url)
        self.client = TestClient(create_app(settings), raise_server_exceptions=False)
        self.client.__enter__()  # runs the app's lifespan, which opens its state; close() leaves it
        self.client.headers["Authorization"] = f"Bearer {self.store.create_key(team)}"
        self.team = self.store.team_for_key(self.client.headers["Authorization"].split()[1])

    def upload(
        self, content: bytes, purpose: str = "rewrite", filename: str = "data.jsonl"
    ) -> dict[str, Any]:
        response = self.client.post(
            "/v1/files", files={"file": (filename, content, "application/jsonl")}, data={"purpose": purpose}
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post(path, json=body)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def get(self, path: str) -> dict[str, Any]:
        response = self.client.get(path)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait(
        self,
        path: str,
        statuses: set[str],
        timeout: float,
        until: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any]:
        """Poll ``path`` until its status is one of ``statuses`` (or ``until`` holds); the last object."""
        last: dict[str, Any] = {}

        def reached() -> bool:
            nonlocal last
            last = self.get(path)
            return last["status"] in statuses or bool(until and until(last))

        try:
            wait_for(reached, timeout, f"{path} to reach {statuses}", interval=0.1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last seen: {last}") from None
        return last

    def events(self, path: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        after = None
        while True:
            page = self.get(f"{path}/events?limit=100" + (f"&after={after}" if after else ""))
            events += page["data"]
            if not page["has_more"]:
                return events
            after = page["last_id"]

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        self.client.close()


def jsonl_bytes(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def downstream_rows(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Toy downstream training rows (expert answers in prose, with their gold answers)."""
    from rewriter.suites import get_suite

    examples = get_suite("downstream").examples("train", n, seed=seed)
    return [
        {"id": f"d{i}", "question": e.question, "answer": e.expert, "gold": e.gold}
        for i, e in enumerate(examples)
    ]


@pytest.fixture
def service(celery_worker: Settings) -> Iterator[Callable[..., Api]]:
    """``service(shard_rows=4, team="acme")``: an Api on the session worker's Redis and data dir, for a team of
    its own (the name gets a unique suffix: the session's Redis is shared by the tests)."""
    made: list[Api] = []

    def make(shard_rows: int = 4, team: str = "acme") -> Api:
        worker = celery_worker.worker.model_copy(update={"shard_rows": shard_rows})
        api = Api(celery_worker.model_copy(update={"worker": worker}), f"{team}-{uuid.uuid4().hex[:6]}")
        made.append(api)
        return api

    yield make
    for api in made:
        api.close()


def start_api_server(env: dict[str, str], logdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``uvicorn --factory app.main:create_app`` on a free port; (process, base URL) once it answers /healthz."""
    import httpx

    port = free_port()
    log = logdir / f"uvicorn-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "app.main:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"uvicorn exited early:\n{log.read_text()}")
        try:
            return httpx.get(f"{base}/healthz").status_code == 200
        except httpx.TransportError:
            return False

    wait_for(up, 30, "uvicorn to answer /healthz", interval=0.1)
    return proc, base


@pytest.fixture(scope="session")
def api_server(celery_worker: Settings) -> Iterator[tuple[str, Settings]]:
    """A real uvicorn process in front of the session worker: (base URL without /v1, its settings)."""
    env = worker_environment(celery_worker.redis_url, celery_worker.data_dir)
    proc, base = start_api_server(env, celery_worker.data_dir)
    try:
        yield base, celery_worker
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# ---- a real S3-compatible server (moto's, as a separate process on loopback) ---------------------------------


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """``moto_server`` on a free loopback port; yields the environment that points s3fs (botocore) at it."""
    import shutil

    import httpx

    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    binary = shutil.which("moto_server") or str(Path(sys.executable).with_name("moto_server"))
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [binary, "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=subprocess.STDOUT
        )
    endpoint = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"moto_server exited early:\n{log.read_text()}")
        try:
            return httpx.get(endpoint).status_code < 500
        except httpx.TransportError:
            return False

    try:
        wait_for(up, 30, "moto_server to answer", interval=0.1)
        yield {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def s3_url(s3_server: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on the S3 test server (this process's environment points at it): ``s3://<bucket>/store``."""
    import fsspec

    for key, value in s3_server.items():
        monkeypatch.setenv(key, value)
    bucket = f"rw-{uuid.uuid4().hex[:12]}"
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    fs.mkdir(bucket)
    return f"s3://{bucket}/store"
