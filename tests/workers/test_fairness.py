"""Fairness between teams through a real Celery worker and Redis: with REWRITER_WORKER__TEAM_MAX_RUNNING_JOBS=1 a
team's second job waits, queued, while another team's job runs on the free worker slot; the first job's end wakes
the waiting one."""

from __future__ import annotations

from pathlib import Path

import pytest

from rewriter.service.store import Slot, Store
from rewriter.settings import Settings
from tests.conftest import TEST_WORKER, start_worker, stop_worker, wait_for, worker_environment
from workers.celery_app import create_celery
from workers.tasks import enqueue

pytestmark = pytest.mark.integration


def test_a_teams_extra_job_waits_while_another_teams_job_runs(redis_server: str, tmp_path: Path) -> None:
    settings = Settings(redis_url=f"{redis_server}/5", data_dir=tmp_path, worker=TEST_WORKER)
    store = Store.from_url(settings.redis_url)
    store.redis.flushdb()
    celery = create_celery(settings)
    env = worker_environment(settings.redis_url, tmp_path) | {"REWRITER_WORKER__TEAM_MAX_RUNNING_JOBS": "1"}
    worker = start_worker(env, tmp_path, concurrency=2)  # two slots: room for two jobs at once

    def submit(team: str, seconds: float) -> str:
        job = store.create_job(team, "selftest", {"seconds": seconds}, status="queued")
        enqueue(celery, job)
        return job.id

    def status(job_id: str) -> str:
        return store.get_job(job_id, team=None).status

    try:
        big = submit("team-a", 600)
        wait_for(lambda: status(big) == "in_progress", 30, "team a's first job to run")
        waiting = submit("team-a", 0.1)
        other = submit("team-b", 0.1)
        wait_for(lambda: status(other) == "completed", 30, "team b's job to run beside team a's")
        assert status(big) == "in_progress" and status(waiting) == "queued"
        assert store.waiting_jobs("team-a") == [waiting] and store.running_slots("team-a") == [big]
        events = [e.message for e in store.list_events(waiting, team=None).data]
        assert len(events) == 1 and events[0].startswith("Waiting: 1 job(s) of this team are running")
        assert store.team_job_counts()[("team-a", "cpu", "selftest", "queued")] == 1

        store.request_cancel(big, team=None)  # its run ends: the slot goes to the waiting job
        wait_for(lambda: status(waiting) == "completed", 30, "the waiting job to run once the slot was free")
        first, second = store.get_job(big, team=None), store.get_job(waiting, team=None)
        assert first.status == "cancelled" and first.finished_at is not None and second.started_at is not None
        assert second.started_at >= first.finished_at and second.attempts == 1
        assert store.running_slots("team-a") == [] and store.waiting_jobs("team-a") == []
        assert ("team-a", "cpu", "selftest", "queued") not in store.team_job_counts()
    finally:
        stop_worker(worker)


def test_slots_free_a_dead_workers_slot_and_wake_the_oldest_waiting_job(store: Store) -> None:
    jobs = [store.create_job("team-s", "selftest", {}, status="queued").id for _ in range(4)]
    assert store.acquire_slot("team-s", jobs[0], limit=1, stale_after=30) is Slot.TAKEN
    assert store.acquire_slot("team-s", jobs[0], limit=1, stale_after=30) is Slot.HELD
    assert store.acquire_slot("team-s", jobs[1], limit=1, stale_after=30) is Slot.WAITING
    assert store.acquire_slot("team-s", jobs[2], limit=1, stale_after=30) is Slot.WAITING
    assert store.acquire_slot("team-s", jobs[1], limit=1, stale_after=30) is Slot.STILL_WAITING
    assert store.waiting_jobs("team-s") == jobs[1:3]
    store.request_cancel(jobs[1], team=None)  # cancelled while waiting: skipped when a slot frees
    assert store.release_slot("team-s", jobs[0]) == jobs[2]
    assert store.acquire_slot("team-s", jobs[2], limit=1, stale_after=30) is Slot.TAKEN
    assert store.waiting_jobs("team-s") == [] and store.release_slot("team-s", "nothing") is None
    # A slot whose job has no heartbeat and was taken longer ago than the staleness period is freed by a taker.
    assert store.acquire_slot("team-s", jobs[3], limit=1, stale_after=0) is Slot.TAKEN
    assert store.running_slots("team-s") == [jobs[3]]
    assert store.stale_waiting(0) == []
    assert store.acquire_slot("team-s", jobs[0], limit=1, stale_after=30) is Slot.WAITING
    assert store.stale_waiting(0) == [jobs[0]] and store.stale_waiting(3600) == []
