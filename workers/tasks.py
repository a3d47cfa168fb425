"""Celery tasks: thin, idempotent, carrying only ids. Heavy work runs in a child process (``supervisor``).

Fairness between teams: with ``worker.team_max_running_jobs`` set, a job takes one of its team's running slots
(``rewriter.service.store.slots``) before it is claimed. When they are all held the job waits, still `queued`, in
its team's waiting set, and the worker takes the next message — another team's job; the run that gives a slot back
sends the team's oldest waiting job again.

A new job kind plugs in with one line in ``CHILD_MODULES`` (kind → module run as ``python -m <module> <job_id>``)
plus its lifecycle in ``rewriter.jobs.kinds.JOB_KINDS``. Modules are named, never imported here: workers never
import ``training``.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from celery import Celery

from rewriter.errors import NotFound
from rewriter.jobs.kinds import RUN_JOB, RUN_SHARDS, SWEEP, RunJob
from rewriter.service.store import JobRecord, Slot, Store
from rewriter.settings import Settings, get_settings
from workers.celery_app import app
from workers.failures import retry_delay
from workers.supervisor import supervise, supervise_helper

log = logging.getLogger(__name__)

# job kind → the module its child process runs.
CHILD_MODULES: dict[str, str] = {
    "rewrite": "workers.child_rewrite",
    "fine_tune": "training.jobs",
    "eval": "workers.child_eval",
    "selftest": "workers.child_selftest",
}
# Kinds whose shards other workers help with (``run_shards``), and the module their helpers run.
HELPER_MODULES: dict[str, str] = {"rewrite": "workers.child_shards"}
# Kinds whose child watches the cancel flag itself and stops cleanly (a rewrite finishes its shard and keeps the
# output so far): after a cancel the supervisor waits for it before signalling. SIGTERM would also reach the
# child's helpers (e.g. the math verifier's process pool) and spoil the shard in flight.
COOPERATIVE_CANCEL = {"rewrite"}


@lru_cache
def _context() -> tuple[Settings, Store]:
    settings = get_settings()
    return settings, Store.from_url(settings.redis_url, settings.redis)


def enqueue(celery: Celery, job: JobRecord, *, countdown: float | None = None) -> None:
    """Send a recorded job to its queue (record the job first, then enqueue), to run after ``countdown`` s."""
    celery.send_task(RUN_JOB, args=RunJob(job.id).args, queue=job.queue, countdown=countdown or None)


@app.task(name=RUN_JOB)
def run_job(job_id: str) -> str:
    """Claim the job and supervise its child; a no-op for a job that is finished, gone or already running.

    A run whose child died or crashed comes back `queued` (``supervise``): it is enqueued again, after a backoff.
    """
    settings, store = _context()
    try:
        job = store.get_job(job_id, team=None)
    except NotFound:
        log.warning("job %s: no such job, message dropped", job_id)
        return "missing"
    if job.is_terminal:
        return job.status
    module = CHILD_MODULES.get(job.kind)
    if module is None:
        error = {"code": "unsupported_kind", "message": f"No worker runs {job.kind} jobs.", "param": None}
        store.transition(job_id, job.lifecycle.pending, job.lifecycle.failed, error=error)
        return job.lifecycle.failed
    worker = settings.worker
    slot = None
    if worker.team_max_running_jobs:
        limit = worker.team_max_running_jobs
        slot = store.acquire_slot(job.team, job_id, limit=limit, stale_after=worker.stale_after_seconds)
        if slot in (Slot.WAITING, Slot.STILL_WAITING):
            if slot is Slot.WAITING:
                store.add_event(
                    job_id,
                    f"Waiting: {limit} job(s) of this team are running, the most a team may run at once "
                    "(REWRITER_WORKER__TEAM_MAX_RUNNING_JOBS).",
                    data={"running": store.running_slots(job.team), "limit": limit},
                )
            return "waiting"  # stays queued; the run that frees a slot sends it again
    attempt = store.claim(job_id)
    if attempt is None:
        if slot is Slot.TAKEN:
            _release(store, job)
        return "skipped"  # another worker owns it, or it was cancelled meanwhile
    if job.kind in HELPER_MODULES:
        for _ in range(helpers_wanted(store, job, worker.shard_helpers, worker.shard_rows)):
            app.send_task(RUN_SHARDS, args=RunJob(job.id).args, queue=job.queue)
    status = "lost"
    try:
        status = supervise(
            store,
            job_id,
            module,
            attempt=attempt,
            heartbeat_seconds=worker.heartbeat_seconds,
            cooperative_seconds=worker.cancel_grace_seconds if job.kind in COOPERATIVE_CANCEL else 0.0,
            max_attempts=worker.max_attempts,
            backoff_seconds=worker.retry_backoff_seconds,
        )
    finally:
        # A job taken away ("lost") runs under its new owner, which holds the same slot (the slot is the job's).
        if slot is not None and status != "lost":
            _release(store, job)
    if status == job.lifecycle.queued:
        enqueue(app, job, countdown=retry_delay(attempt, worker.retry_backoff_seconds))
    return status


def _release(store: Store, job: JobRecord) -> None:
    """Give the job's slot back and send the team's oldest waiting job, if any."""
    woken = store.release_slot(job.team, job.id)
    if woken is not None:
        enqueue(app, store.get_job(woken, team=None))


def helpers_wanted(store: Store, job: JobRecord, limit: int, default_rows: int) -> int:
    """How many helper tasks to send for a job: one per shard beyond the first, at most ``limit``."""
    spec = job.spec
    try:
        rows = store.get_file(spec["input_file_id"], team=job.team).rows or 0
    except (NotFound, KeyError):
        return 0
    if spec.get("preview"):
        rows = min(rows, int(spec["preview"]))
    shard_rows = int(spec.get("shard_rows") or default_rows)
    return max(0, min(limit, -(-rows // shard_rows) - 1))


@app.task(name=RUN_SHARDS)
def run_shards(job_id: str) -> str:
    """Help a running job with its shards for one turn in a supervised child; then, if shards are still free, go
    back to the queue's tail (so the shards of the jobs on a queue interleave). A no-op when nothing is free."""
    settings, store = _context()
    try:
        job = store.get_job(job_id, team=None)
    except NotFound:
        return "missing"
    module = HELPER_MODULES.get(job.kind)
    if module is None or job.status != job.lifecycle.running or store.shards_free(job_id) == 0:
        return "idle"
    code = supervise_helper(store, job_id, module)
    job = store.get_job(job_id, team=None)
    if code == 0 and job.status == job.lifecycle.running and store.shards_free(job_id):
        app.send_task(RUN_SHARDS, args=RunJob(job_id).args, queue=job.queue)
        return "requeued"
    return "done" if code == 0 else f"exit {code}"


@app.task(name=SWEEP)
def sweep() -> list[str]:
    """Re-queue jobs whose supervisor stopped heartbeating (its worker died); returns their ids."""
    settings, store = _context()
    jobs = store.requeue_stale(settings.worker.stale_after_seconds)
    for job in jobs:
        store.add_event(job.id, "The worker running this job was lost; the job was re-queued.", level="warn")
        enqueue(app, job)
    # A team's oldest waiting job is sent again if no finished run woke it in time (a worker died between giving a
    # slot back and sending it, or a dead worker's slot went stale).
    for job_id in store.stale_waiting(settings.worker.stale_after_seconds):
        enqueue(app, store.get_job(job_id, team=None))
    return [job.id for job in jobs]
