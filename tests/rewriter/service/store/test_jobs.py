"""The job state machine in the Redis store (a real redis-server): transitions, counts, cancels, heartbeats."""

from __future__ import annotations

import threading
import time

import pytest

from rewriter.errors import Conflict, InvalidRequest, NotFound
from rewriter.ids import Prefix, has_prefix, new_id
from rewriter.service.store import Store

pytestmark = pytest.mark.integration


def test_ids_are_prefixed_and_unique() -> None:
    ids = {new_id(Prefix.REWRITE_JOB) for _ in range(1000)}
    assert len(ids) == 1000
    assert all(has_prefix(i, Prefix.REWRITE_JOB) and i[6:].isalnum() for i in ids)


def test_job_lifecycle_transitions_and_counts(store: Store) -> None:
    job = store.create_job("team-a", "rewrite", {"input_file": "file-x"})
    assert has_prefix(job.id, Prefix.REWRITE_JOB) and job.status == "validating"
    assert store.job_counts()[("rewrite", "validating")] == 1
    assert store.transition(job.id, ["validating"], "queued")
    assert not store.transition(job.id, ["validating"], "queued"), "a stale from-status must be refused"
    assert store.claim(job.id) == 1
    assert store.claim(job.id) is None, "a running job cannot be claimed twice"
    running = store.get_job(job.id, team="team-a")
    assert running.status == "in_progress" and running.started_at and running.attempts == 1
    assert store.finish(job.id, succeeded=True, attempt=1, result={"rows": 3}) == "completed"
    done = store.get_job(job.id, team=None)
    assert done.result == {"rows": 3} and done.finished_at and done.is_terminal
    counts = store.job_counts()
    assert counts[("rewrite", "completed")] == 1
    assert counts[("rewrite", "validating")] == counts[("rewrite", "queued")] == 0
    assert counts[("rewrite", "in_progress")] == 0
    with pytest.raises(NotFound):
        store.get_job(job.id, team="team-b")
    with pytest.raises(ValueError):
        store.transition(job.id, ["completed"], "succeeded")  # not a rewrite status
    with pytest.raises(TypeError):
        store.transition(job.id, ["completed"], "completed", status="x")


def test_fine_tune_jobs_use_their_own_statuses(store: Store) -> None:
    job = store.create_job("team-a", "fine_tune", {"training_file": "file-x"}, queue="gpu")
    assert has_prefix(job.id, Prefix.FINE_TUNE_JOB) and job.status == "validating_files"
    assert store.claim(job.id) == 1
    assert store.get_job(job.id, team=None).status == "running"
    cancelled = store.request_cancel(job.id, team="team-a")
    assert cancelled.status == "running" and cancelled.cancel_requested_at, (
        "no `cancelling` status for fine-tunes"
    )
    assert store.cancel_requested(job.id)
    assert store.finish(job.id, succeeded=True, attempt=1) == "cancelled"
    with pytest.raises(InvalidRequest):
        store.create_job("team-a", "nonsense", {})


def test_cancel_of_a_pending_job_is_immediate_and_of_a_finished_one_a_conflict(store: Store) -> None:
    pending = store.create_job("team-a", "rewrite", {}, status="queued")
    assert store.request_cancel(pending.id, team="team-a").status == "cancelled"
    assert store.request_cancel(pending.id, team="team-a").status == "cancelled", "cancel is idempotent"
    assert store.claim(pending.id) is None
    with pytest.raises(NotFound):
        store.request_cancel(pending.id, team="team-b")
    finished = store.create_job("team-a", "rewrite", {}, status="queued")
    attempt = store.claim(finished.id)
    store.finish(finished.id, succeeded=False, attempt=attempt, error={"code": "x", "message": "boom"})
    assert store.get_job(finished.id, team=None).error == {"code": "x", "message": "boom"}
    with pytest.raises(Conflict):
        store.request_cancel(finished.id, team="team-a")


def race_cancel_against_completion(store: Store) -> tuple[str, dict[str, str]]:
    """Complete (as a supervisor would) and cancel (as a user would) the same job at the same instant."""
    job = store.create_job("team-a", "rewrite", {}, status="queued")
    attempt = store.claim(job.id)
    start = threading.Barrier(2)
    seen: dict[str, str] = {}

    def complete() -> None:
        start.wait()
        seen["finish"] = store.finish(job.id, succeeded=True, attempt=attempt)

    def cancel() -> None:
        start.wait()
        try:
            seen["cancel"] = store.request_cancel(job.id, team="team-a").status
        except Conflict:
            seen["cancel"] = "conflict"

    threads = [threading.Thread(target=complete), threading.Thread(target=cancel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = store.get_job(job.id, team=None)
    if final.status == "completed":
        assert seen["cancel"] == "conflict" and not final.cancel_requested_at
    else:
        assert final.status == "cancelled" and seen["cancel"] in {"cancelling", "cancelled"}
    assert final.status == seen["finish"]
    return final.status, seen


def test_cancel_racing_completion_ends_in_one_defined_state(store: Store) -> None:
    outcomes = {race_cancel_against_completion(store)[0] for _ in range(40)}
    assert outcomes <= {"completed", "cancelled"}
    counts = store.job_counts()
    assert sum(n for (kind, _), n in counts.items() if kind == "rewrite") == 40
    assert all(counts.get(("rewrite", s), 0) == 0 for s in ("in_progress", "cancelling", "queued"))


def test_heartbeats_find_stale_jobs_and_requeue_them(store: Store) -> None:
    job = store.create_job("team-a", "rewrite", {}, status="queued")
    attempt = store.claim(job.id)
    assert attempt == 1
    assert store.heartbeat(job.id, attempt=1)
    assert store.stale_jobs(older_than=5) == []
    time.sleep(0.3)
    assert [j.id for j in store.stale_jobs(older_than=0.2)] == [job.id]
    requeued = store.requeue_stale(older_than=0.2)
    assert [j.id for j in requeued] == [job.id] and requeued[0].status == "queued"
    assert not store.heartbeat(job.id, attempt=1), "a re-queued job is no longer the old supervisor's"
    assert store.claim(job.id) == 2
    assert not store.heartbeat(job.id, attempt=1), "nor after someone else claimed it"
    assert store.heartbeat(job.id, attempt=2)
    assert store.finish(job.id, succeeded=True, attempt=1) != "completed", (
        "a stale supervisor cannot finish it"
    )
    assert store.finish(job.id, succeeded=True, attempt=2) == "completed"
    assert store.stale_jobs(older_than=0) == [], "finished jobs leave the heartbeat set"


def test_stale_job_with_a_cancel_request_is_cancelled_not_requeued(store: Store) -> None:
    job = store.create_job("team-a", "rewrite", {}, status="queued")
    store.claim(job.id)
    store.request_cancel(job.id, team="team-a")
    time.sleep(0.3)
    assert store.requeue_stale(older_than=0.2) == []
    assert store.get_job(job.id, team=None).status == "cancelled"


def test_progress_and_result_need_an_existing_job(store: Store) -> None:
    job = store.create_job("team-a", "eval", {})
    store.set_progress(job.id, {"done": 3, "total": 10})
    assert store.get_job(job.id, team=None).progress == {"done": 3, "total": 10}
    with pytest.raises(NotFound):
        store.set_progress("eval-missing", {"done": 1})
    assert not store.redis.exists("rw:job:eval-missing"), "no partial hash for a missing job"


def test_job_list_is_per_team_and_kind(store: Store) -> None:
    jobs = [store.create_job("team-a", "rewrite", {"n": i}) for i in range(3)]
    store.create_job("team-a", "eval", {})
    store.create_job("team-b", "rewrite", {})
    page = store.list_jobs("team-a", "rewrite", limit=2)
    assert [j.id for j in page.data] == [jobs[2].id, jobs[1].id] and page.has_more
    rest = store.list_jobs("team-a", "rewrite", after=page.data[-1].id, limit=2)
    assert [j.spec for j in rest.data] == [{"n": 0}] and not rest.has_more


def test_heartbeat_and_claim_read_the_kind_not_the_spec(store: Store) -> None:
    job = store.create_job("team-a", "rewrite", {"big": "x" * 100_000}, status="queued")
    store.redis.hset(
        f"rw:job:{job.id}", "spec", "{not json"
    )  # a full read of the job would fail to decode it
    assert store.claim(job.id) == 1
    assert store.heartbeat(job.id, attempt=1)
    assert not store.heartbeat(job.id, attempt=2), "another attempt's supervisor"
    with pytest.raises(NotFound):
        store.heartbeat("job-missing")
    with pytest.raises(NotFound):
        store.claim("job-missing")
