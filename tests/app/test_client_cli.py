"""The typed client and the service commands against a real uvicorn server and worker; ``LocalService`` (what
``rewriter serve`` runs) starting and stopping the whole service, and ``rewriter serve`` restarting a killed
worker and stopping everything on Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from cli.service import LocalService
from rewriter.client import APIError, Client, RewriteJob
from rewriter.service.store import Store
from rewriter.settings import Settings, get_settings
from tests.conftest import (
    REPO,
    WAIT_SCALE,
    downstream_rows,
    free_port,
    jsonl_bytes,
    wait_for,
    worker_environment,
)
from tests.workers.test_supervisor import group_alive
from workers.celery_app import create_celery
from workers.tasks import enqueue

pytestmark = pytest.mark.integration


@pytest.fixture
def cli_env(api_server: tuple[str, Settings], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """``rewriter keys create`` against the session's Redis; the env the other commands need."""
    base, settings = api_server
    monkeypatch.setenv("REWRITER_REDIS_URL", settings.redis_url)
    get_settings.cache_clear()  # the command reads the settings of its (this) process
    try:
        result = CliRunner().invoke(app, ["keys", "create", "--team", f"cli-{uuid.uuid4().hex[:6]}"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    key = result.output.strip()
    assert key.startswith("sk-rw-") and Store.from_url(settings.redis_url).team_for_key(key)
    yield {"REWRITER_API_URL": f"{base}/v1", "REWRITER_API_KEY": key}


def test_files_and_a_rewrite_job_through_the_cli(cli_env: dict[str, str], tmp_path: Path) -> None:
    runner = CliRunner(env=cli_env)
    data = tmp_path / "train.jsonl"
    data.write_bytes(jsonl_bytes(downstream_rows(5)))
    uploaded = runner.invoke(app, ["files", "upload", str(data), "--purpose", "rewrite"])
    assert uploaded.exit_code == 0, uploaded.output
    file_id = json.loads(uploaded.output)["id"]
    listed = runner.invoke(app, ["files", "list"])
    assert file_id in listed.output and "5 rows" in listed.output

    out = tmp_path / "out.jsonl"
    created = runner.invoke(
        app,
        ["jobs", "rewrite", "create", file_id, "--strategy", "identity", "--verifier", "toy-number"]
        + ["--preview", "3", "--wait", "--poll", "0.2", "-o", str(out)],
    )
    assert created.exit_code == 0, created.output
    assert '"status": "completed"' in created.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["d0", "d1", "d2"] and rows[0]["meta"]["provenance"] == "original"

    again = tmp_path / "again.jsonl"
    downloaded = runner.invoke(app, ["files", "download", file_id, "-o", str(again)])
    assert downloaded.exit_code == 0 and again.read_bytes() == data.read_bytes()
    missing = runner.invoke(app, ["files", "download", "file-nope", "-o", str(again)])
    assert missing.exit_code == 2 and "No such File object" in missing.output
    refused = runner.invoke(app, ["jobs", "rewrite", "create", file_id, "--verifier", "astrology"])
    assert refused.exit_code == 2 and "param: verifier" in refused.output
    assert runner.invoke(app, ["models", "list"]).output.startswith("toy")

    tune = ["jobs", "finetune", "create", file_id, "--steps", "1", "--validation-file"]
    refused = runner.invoke(app, [*tune, "file-nope"])
    assert refused.exit_code == 2 and "param: validation_file" in refused.output
    created = runner.invoke(app, [*tune, file_id])
    assert created.exit_code == 0 and json.loads(created.output)["validation_file"] == file_id
    runner.invoke(app, ["jobs", "finetune", "cancel", json.loads(created.output)["id"]])


def test_client_waits_for_a_job_and_reports_errors(cli_env: dict[str, str], tmp_path: Path) -> None:
    data = tmp_path / "train.jsonl"
    data.write_bytes(jsonl_bytes(downstream_rows(4)))
    with Client(cli_env["REWRITER_API_URL"], cli_env["REWRITER_API_KEY"]) as client:
        file = client.upload_file(data)
        job = client.create_rewrite_job(file.id, strategy="identity", verifier="toy-number")
        seen: list[str] = []
        done = client.wait_for(job, 0.2, timeout=60 * WAIT_SCALE, on_update=lambda j: seen.append(j.status))
        assert isinstance(done, RewriteJob) and done.status == "completed" and seen[-1] == "completed"
        assert done.row_counts["completed"] == 4 and client.list_jobs(RewriteJob)[0].id == job.id
        messages = [e.message for e in client.events(done)]
        assert messages[-1] == "Done: 4 rows kept, 0 dropped."
        assert client.get_file(done.output_file_id or "").purpose == "rewrite-output"
        with pytest.raises(APIError) as error:
            client.get_job(RewriteJob, "rwjob-nope")
        assert error.value.status == 404 and error.value.param == "job_id"
    with (
        pytest.raises(APIError) as unauthorized,
        Client(cli_env["REWRITER_API_URL"], "sk-rw-wrong") as client,
    ):
        client.list_files()
    assert unauthorized.value.status == 401


def test_local_service_starts_everything_and_stops_it(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", redis_url="redis://127.0.0.1:1/0"
    )  # nothing answers there
    service = LocalService(settings, log_dir=tmp_path / "logs")
    with service:
        assert service.redis_url != settings.redis_url, "a private redis-server was started"
        assert {name for name, _ in service.procs} == {"redis", "api", "worker", "beat"}
        key = Store.from_url(service.redis_url).create_key("local")
        with Client(service.base_url, key) as client:
            assert [m.id for m in client.list_models()] == ["toy"]
        pids = [proc.pid for _, proc in service.procs]
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}") or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_serve_restarts_a_killed_worker_and_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    env = worker_environment("redis://127.0.0.1:1/0", tmp_path / "data")  # nothing answers: a private Redis
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "cli.main", "serve", "--port", str(free_port())]
    with open(log, "wb") as out:
        serve = subprocess.Popen(command, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: b"Rewriter API at" in log.read_bytes(), 60, "rewriter serve to start")
        text = log.read_text()
        pids = {name: int(pid) for name, pid in re.findall(r"started (\w+) \(pid (\d+)\)", text)}
        redis_url = re.findall(r"\(redis (redis://[^)]+)\)", text)[0]
        settings = Settings(redis_url=redis_url, data_dir=tmp_path / "data")
        store = Store.from_url(redis_url)
        job = store.create_job("team-s", "selftest", {"seconds": 8, "events": 8}, status="queued")
        enqueue(create_celery(settings), job)
        wait_for(
            lambda: (store.get_job(job.id, team=None).progress or {}).get("step"), 60, "the job to start"
        )

        os.kill(pids["worker"], signal.SIGKILL)  # the worker alone, as the OOM killer would
        wait_for(lambda: "restarted worker as pid" in log.read_text(), 20, "the worker to be restarted")
        restarted = int(re.findall(r"restarted worker as pid (\d+)", log.read_text())[0])
        assert restarted != pids["worker"] and serve.poll() is None, "the API and beat kept running"
        wait_for(lambda: store.get_job(job.id, team=None).is_terminal, 60, "the job to finish")
        done = store.get_job(job.id, team=None)
        assert done.status == "completed" and done.attempts == 2, done.error
        assert any("re-queued" in e.message for e in store.list_events(job.id, team=None, limit=100).data)

        serve.send_signal(signal.SIGINT)  # Ctrl-C
        assert serve.wait(timeout=60 * WAIT_SCALE) == 0
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
    groups = [*pids.values(), restarted]
    assert not any(group_alive(pid) for pid in groups), f"left running:\n{log.read_text()}"
    assert "worker (pid" in log.read_text() and "SIGINT received; stopping" in log.read_text()


def test_an_eval_run_on_a_held_out_file_and_a_harness_task_through_the_cli(
    cli_env: dict[str, str], api_server: tuple[str, Settings], tmp_path: Path
) -> None:
    from rewriter.harness import write_tasks
    from tests.app.test_eval_runs import held_out_chat_rows

    write_tasks(api_server[1].harness_tasks_dir, ["add"], n=10)
    runner = CliRunner(env=cli_env)
    data = tmp_path / "test.jsonl"
    data.write_bytes(jsonl_bytes(held_out_chat_rows(10)))
    file_id = json.loads(runner.invoke(app, ["files", "upload", str(data), "--purpose", "eval"]).output)["id"]
    done = runner.invoke(
        app,
        ["evals", "create", "--model", "toy", "--base", "toy", "--file", f"{file_id}:numeric"]
        + ["--task", "toy_add", "-n", "10", "--wait", "--poll", "0.2"],
    )
    assert done.exit_code == 0, done.output
    lines = {line.split()[0]: line for line in done.output.splitlines() if line.strip()}
    assert "(n=10, downstream)" in lines[file_id] and "(n=10, retention)" in lines["toy_add"]
    assert "gain +0.0 pts   forgetting 0.0 pts" in done.output
    refused = runner.invoke(app, ["evals", "create", "--file", f"{file_id}:astrology"])
    assert refused.exit_code == 2 and "param: files[0].verifier" in refused.output
