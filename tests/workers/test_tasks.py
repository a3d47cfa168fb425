"""Jobs through real Celery worker processes: run, cancel, duplicate delivery, and recovery from a killed worker."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import redis

from rewriter.service.store import JobRecord, Store
from rewriter.settings import Settings
from tests.conftest import start_worker, stop_worker, wait_for, worker_environment
from tests.workers.test_supervisor import alive
from workers.celery_app import create_celery
from workers.tasks import enqueue

pytestmark = pytest.mark.integration


def submit(settings: Settings, **spec: object) -> tuple[Store, JobRecord]:
    """Record a selftest job, then enqueue it (the order the API follows)."""
    store = Store.from_url(settings.redis_url)
    job = store.create_job("team-w", "selftest", spec, status="queued")
    enqueue(create_celery(settings), job)
    return store, job


def wait_status(store: Store, job_id: str, statuses: set[str], timeout: float) -> JobRecord:
    wait_for(lambda: store.get_job(job_id, team=None).status in statuses, timeout, f"job to reach {statuses}")
    return store.get_job(job_id, team=None)


def test_worker_runs_a_job_to_completion(celery_worker: Settings) -> None:
    store, job = submit(celery_worker, seconds=0.3, events=2)
    done = wait_status(store, job.id, {"completed", "failed"}, 20)
    assert done.status == "completed" and done.result == {"steps": 2} and done.attempts == 1
    assert len(store.list_events(job.id, team="team-w").data) == 2


def attempt_events(store: Store, job_id: str) -> list[str]:
    return [
        e.message
        for e in store.list_events(job_id, team=None, limit=100).data
        if e.message.startswith("Attempt")
    ]


def test_worker_reports_a_failing_job_after_its_attempts(celery_worker: Settings) -> None:
    store, job = submit(celery_worker, seconds=0.1, exit_code=7)
    failed = wait_status(store, job.id, {"completed", "failed"}, 20)
    assert failed.status == "failed" and failed.attempts == 3 and failed.error is not None
    assert failed.error["message"].startswith("Failed on attempt 3 of 3: the process exited with code 7.")
    assert "failing on purpose with exit code 7" in failed.error["message"]
    assert len(attempt_events(store, job.id)) == 2


def test_child_killed_every_time_fails_after_all_attempts_naming_the_signal(celery_worker: Settings) -> None:
    bar = "Loading weights: 100%|██████████| 3/3 [00:01<00:00,  2.10it/s]"
    store, job = submit(
        celery_worker, seconds=0.1, signal=9, stderr=f"loading the model\n\r 50%|█    | 1/2{bar}"
    )
    failed = wait_status(store, job.id, {"completed", "failed"}, 30)
    assert failed.status == "failed" and failed.attempts == 3 and failed.error is not None
    message = failed.error["message"]
    assert message.startswith("Failed on attempt 3 of 3: the process was killed by SIGKILL (signal 9;")
    assert "out-of-memory" in message and "loading the model" in message and "Loading weights" not in message
    events = attempt_events(store, job.id)
    assert [e.split(" after ")[0] for e in events] == ["Attempt 2 of 3", "Attempt 3 of 3"]
    assert all("killed by SIGKILL" in e for e in events)


def test_child_that_cannot_run_fails_at_once(celery_worker: Settings) -> None:
    store, job = submit(
        celery_worker, seconds=0.1, stderr="InvalidRequest: no such verifier 'nope'", exit_code=2
    )
    failed = wait_status(store, job.id, {"completed", "failed"}, 20)
    assert failed.status == "failed" and failed.attempts == 1 and attempt_events(store, job.id) == []
    assert (
        failed.error is not None
        and failed.error["message"] == "selftest: failing on purpose with exit code 2"
    )


def test_cancel_through_the_worker(celery_worker: Settings) -> None:
    store, job = submit(celery_worker, seconds=30, events=30)
    wait_for(lambda: (store.get_job(job.id, team=None).progress or {}).get("child"), 20, "the job to start")
    child = store.get_job(job.id, team=None).progress["child"]
    store.request_cancel(job.id, team="team-w")
    cancelled = wait_status(store, job.id, {"cancelled", "completed", "failed"}, 15)
    assert cancelled.status == "cancelled" and cancelled.result is None
    wait_for(lambda: not alive(child), 5, "the child to be gone")


def test_duplicate_deliveries_run_a_job_once(celery_worker: Settings) -> None:
    store, job = submit(celery_worker, seconds=0.5, events=1)
    enqueue(create_celery(celery_worker), job)  # e.g. a redelivered message next to the sweep's copy
    done = wait_status(store, job.id, {"completed", "failed"}, 20)
    enqueue(create_celery(celery_worker), job)  # and one more after it finished
    _, follower = submit(celery_worker, seconds=0.1)  # once it ran, the worker drained everything before it
    wait_status(store, follower.id, {"completed"}, 20)
    again = store.get_job(job.id, team=None)
    assert done.status == again.status == "completed" and again.attempts == 1
    assert len(store.list_events(job.id, team=None).data) == 1


def test_killed_worker_is_swept_and_the_job_completes_elsewhere(redis_server: str, tmp_path: Path) -> None:
    settings = Settings(redis_url=f"{redis_server}/2", data_dir=tmp_path)
    redis.Redis.from_url(settings.redis_url).flushdb()
    env = worker_environment(settings.redis_url, tmp_path)
    first = start_worker(env, tmp_path)
    second = None
    try:
        store, job = submit(settings, seconds=1.2, events=4)
        wait_for(
            lambda: (store.get_job(job.id, team=None).progress or {}).get("step"),
            15,
            "the first run to start",
        )
        child = store.get_job(job.id, team=None).progress["child"]
        os.killpg(first.pid, signal.SIGKILL)  # the worker and its pool die at once, mid-job
        first.wait()
        wait_for(lambda: not alive(child), 5, "the orphaned child to die with its supervisor")
        assert store.get_job(job.id, team=None).status == "in_progress", "killed mid-job"
        # A new worker, with beat sweeping every stale_after/2 s; its start-up overlaps the staleness wait.
        second = start_worker(env, tmp_path, beat=True)
        done = wait_status(store, job.id, {"completed", "failed", "cancelled"}, 20)
    finally:
        stop_worker(first)
        if second is not None:
            stop_worker(second)
    assert done.status == "completed" and done.attempts == 2 and done.result == {"steps": 4}
    messages = [e.message for e in store.list_events(job.id, team=None, limit=100).data]
    assert any("re-queued" in m for m in messages)
