"""The supervisor runs real child processes: completion, failure with stderr, cancel of the whole process group."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from rewriter.service.store import Store
from rewriter.settings import Settings
from tests.conftest import wait_for
from workers.supervisor import supervise

pytestmark = pytest.mark.integration

CHILD = "workers.child_selftest"


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def group_alive(pgid: int) -> bool:
    return any(
        alive(int(entry)) for entry in os.listdir("/proc") if entry.isdigit() and _pgid(int(entry)) == pgid
    )


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def claimed_selftest(store: Store, **spec: Any) -> tuple[str, int]:
    job = store.create_job("team-a", "selftest", spec, status="queued")
    attempt = store.claim(job.id)
    assert attempt is not None
    return job.id, attempt


def test_selftest_job_completes_with_its_events(store: Store, child_env: Settings) -> None:
    job_id, attempt = claimed_selftest(store, seconds=0.3, exit_code=0, events=3)
    assert supervise(store, job_id, CHILD, attempt=attempt, heartbeat_seconds=0.1) == "completed"
    job = store.get_job(job_id, team=None)
    assert job.status == "completed" and job.result == {"steps": 3} and job.error is None
    assert job.progress["step"] == 3 and job.heartbeat_at is not None and job.finished_at is not None
    assert [e.message for e in store.list_events(job_id, team=None).data] == [
        "step 1/3",
        "step 2/3",
        "step 3/3",
    ]
    assert store.stale_jobs(older_than=0) == []


def test_failing_child_fails_the_job_with_its_stderr(store: Store, child_env: Settings) -> None:
    job_id, attempt = claimed_selftest(store, seconds=0.1, exit_code=3)
    assert supervise(store, job_id, CHILD, attempt=attempt, heartbeat_seconds=0.1) == "failed"
    job = store.get_job(job_id, team=None)
    assert job.status == "failed" and job.error is not None
    assert "failing on purpose with exit code 3" in job.error["message"]
    assert job.error["code"] == "job_failed" and job.result is None


def test_child_that_cannot_start_fails_the_job(store: Store, child_env: Settings) -> None:
    job_id, attempt = claimed_selftest(store)
    assert (
        supervise(store, job_id, "workers.no_such_module", attempt=attempt, heartbeat_seconds=0.1) == "failed"
    )
    assert "No module named workers.no_such_module" in store.get_job(job_id, team=None).error["message"]


def test_cancel_mid_run_stops_the_whole_group(store: Store, child_env: Settings) -> None:
    job_id, attempt = claimed_selftest(store, seconds=30, exit_code=0, events=30, grandchild=True)
    final: dict[str, str] = {}
    thread = threading.Thread(
        target=lambda: final.setdefault(
            "status", supervise(store, job_id, CHILD, attempt=attempt, heartbeat_seconds=0.1, grace_seconds=2)
        )
    )
    thread.start()
    wait_for(
        lambda: (store.get_job(job_id, team=None).progress or {}).get("grandchild"), 10, "the child to start"
    )
    pids = store.get_job(job_id, team=None).progress
    assert alive(pids["child"]) and alive(pids["grandchild"])
    assert os.getpgid(pids["grandchild"]) == pids["child"], "the grandchild shares the child's process group"

    assert store.request_cancel(job_id, team="team-a").status == "cancelling"
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert final["status"] == "cancelled" and store.get_job(job_id, team=None).status == "cancelled"
    wait_for(lambda: not alive(pids["grandchild"]), 5, "the grandchild to be gone")
    assert not alive(pids["child"]) and not group_alive(pids["child"])


def test_supervisor_that_lost_its_job_stops_the_child_and_leaves_the_status(
    store: Store, child_env: Settings
) -> None:
    job_id, attempt = claimed_selftest(store, seconds=30, events=30)
    final: dict[str, str] = {}
    thread = threading.Thread(
        target=lambda: final.setdefault(
            "status", supervise(store, job_id, CHILD, attempt=attempt, heartbeat_seconds=0.1, grace_seconds=2)
        )
    )
    thread.start()
    wait_for(lambda: (store.get_job(job_id, team=None).progress or {}).get("child"), 10, "the child to start")
    child = store.get_job(job_id, team=None).progress["child"]
    # Another process decided this run is dead (as the sweep does) and handed the job to a new attempt.
    assert store.transition(job_id, ["in_progress"], "queued", attempt=attempt)
    assert store.claim(job_id) == attempt + 1
    thread.join(timeout=10)
    assert final["status"] == "lost" and not alive(child)
    job = store.get_job(job_id, team=None)
    assert job.status == "in_progress" and job.attempts == attempt + 1, "the new owner's state is untouched"
