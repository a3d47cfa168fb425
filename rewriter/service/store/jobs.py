"""The job state machine: ``rw:job:{id}`` hashes, listed by ``rw:team:{team}:jobs:{kind}``, with their supervisors'
heartbeats in ``rw:heartbeats`` and the per-status counts in ``rw:jobcounts``.

Every status change goes through the transition script (``Transitions``); this module decides which change to ask
for: create, claim, finish, retry, cancel, heartbeat, re-queue the stale.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, cast

import redis

from rewriter.errors import Conflict, InvalidRequest, NotFound
from rewriter.ids import new_id, now
from rewriter.jobs.kinds import JOB_KINDS, lifecycle
from rewriter.service.store.codec import encode, job_from_hash
from rewriter.service.store.records import JobRecord, Order, Page
from rewriter.service.store.transitions import TEAM_COUNTS, Transitions

# KEYS: job hash, the team's job list, counts hash, per-team counts hash.
# ARGV: score, job id, counts field, per-team counts field, field, value, ...
CREATE_ONCE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for i = 5, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
redis.call('HINCRBY', KEYS[3], ARGV[3], 1)
redis.call('HINCRBY', KEYS[4], ARGV[4], 1)
return 1
"""


class Jobs(Transitions):
    def __init__(self, client: redis.Redis) -> None:
        super().__init__(client)
        self._create = client.register_script(CREATE_ONCE)

    def create_job(
        self, team: str, kind: str, spec: Mapping[str, Any], *, queue: str = "cpu", status: str | None = None
    ) -> JobRecord:
        """Record a job (not yet enqueued: record, then enqueue). Starts in the kind's initial status."""
        cycle = lifecycle(kind)
        status = status or cycle.initial
        if status not in cycle.pending:
            raise InvalidRequest(f"a {kind} job starts as one of {sorted(cycle.pending)}, not {status!r}")
        created = time.time()
        job = JobRecord(
            id=new_id(JOB_KINDS[kind][1]),
            team=team,
            kind=kind,
            status=status,
            queue=queue,
            spec=dict(spec),
            created_at=int(created),
            updated_at=created,
        )
        args: list[Any] = [created, job.id, f"{kind}:{status}", f"{team}:{queue}:{kind}:{status}"]
        for name, value in job.__dict__.items():
            args += [name, encode(name, value)]
        # One script, a no-op when the job exists: a retry after a lost reply does not count the job twice.
        keys = [f"rw:job:{job.id}", f"rw:team:{team}:jobs:{kind}", "rw:jobcounts", TEAM_COUNTS]
        self._create(keys=keys, args=args)
        return job

    def get_job(self, job_id: str, *, team: str | None) -> JobRecord:
        """The job, if it exists and (when ``team`` is given) belongs to that team; NotFound otherwise."""
        return job_found(cast(dict[str, str], self.redis.hgetall(f"rw:job:{job_id}")), job_id, team)

    def list_jobs(
        self, team: str, kind: str, *, after: str | None = None, limit: int = 20, order: Order = "desc"
    ) -> Page[JobRecord]:
        lifecycle(kind)
        return self._page(f"rw:team:{team}:jobs:{kind}", after, limit, order, "rw:job:", job_from_hash)

    def claim(self, job_id: str) -> int | None:
        """Move a pending job to its running status for a new supervisor; its attempt number, or None if taken."""
        cycle = self._lifecycle(job_id)
        return self._apply(
            job_id, sorted(cycle.pending), cycle.running, None, False, True, {"started_at": now()}
        )

    def finish(self, job_id: str, *, succeeded: bool, attempt: int | None = None, **fields: Any) -> str:
        """End a supervised run: done (or failed) — unless a cancel was recorded first, which wins. Final status."""
        cycle = self._lifecycle(job_id)
        owned = sorted(cycle.active - {cycle.cancelling or ""})
        target = cycle.done if succeeded else cycle.failed
        if self.transition(job_id, owned, target, attempt=attempt, unless_cancel_requested=True, **fields):
            return target
        extra = {k: v for k, v in fields.items() if k == "result"}
        self.transition(job_id, sorted(cycle.active), cycle.cancelled, attempt=attempt, **extra)
        return self.get_job(job_id, team=None).status

    def retry(self, job_id: str, *, attempt: int) -> bool:
        """Put a job whose attempt ``attempt`` failed back to `queued` for another (the caller enqueues it).

        Refused (False) when a cancel was asked or the job is no longer that attempt's: then ``finish`` decides.
        """
        cycle = self._lifecycle(job_id)
        owned = sorted(cycle.active - {cycle.cancelling or ""})
        return self.transition(job_id, owned, cycle.queued, attempt=attempt, unless_cancel_requested=True)

    def request_cancel(self, job_id: str, *, team: str | None) -> JobRecord:
        """Cancel a job: pending → cancelled at once; running → cancel flag (+ `cancelling`) for its supervisor.

        Cancelling a cancelled job is a no-op; cancelling a finished one is a Conflict.
        """
        for _ in range(10):  # each step is atomic; retry only if the status moved under us
            job = self.get_job(job_id, team=team)
            cycle = job.lifecycle
            if job.status == cycle.cancelled or job.status == cycle.cancelling:
                return job
            if job.status in cycle.terminal:
                raise Conflict(f"Job {job_id} has already {job.status}; it can no longer be cancelled.")
            stamp = now()
            if job.status in cycle.pending:
                moved = self.transition(job_id, [job.status], cycle.cancelled, cancel_requested_at=stamp)
            else:
                to = cycle.cancelling or job.status
                moved = self.transition(job_id, [job.status], to, cancel_requested_at=stamp)
            if moved:
                return self.get_job(job_id, team=None)
        raise Conflict(f"Job {job_id} is changing status too fast to cancel; try again.")

    def cancel_requested(self, job_id: str) -> bool:
        return bool(self.redis.hget(f"rw:job:{job_id}", "cancel_requested_at"))

    def set_progress(self, job_id: str, progress: Any) -> None:
        self._set(job_id, progress=progress)

    def set_result(self, job_id: str, result: Any) -> None:
        self._set(job_id, result=result)

    def heartbeat(self, job_id: str, *, attempt: int | None = None) -> bool:
        """Record that the job's supervisor is alive. False when the job is no longer this supervisor's to run.

        Reads only the job's kind (not its spec or result): a supervisor calls this every few seconds.
        """
        cycle = self._lifecycle(job_id)
        args = [time.time(), "" if attempt is None else attempt, *sorted(cycle.active)]
        return bool(self._heartbeat(keys=[f"rw:job:{job_id}", "rw:heartbeats"], args=args))

    def stale_jobs(self, older_than: float) -> list[JobRecord]:
        """Supervised jobs whose last heartbeat is more than ``older_than`` seconds old.

        None while Redis itself has been up for less than that: after a restart (or a long outage) a supervisor
        may not have reached it yet, and an old heartbeat is no sign that its job died.
        """
        uptime = int(cast(dict[str, Any], self.redis.info("server"))["uptime_in_seconds"])
        if uptime + 1 <= older_than:  # whole seconds: err towards waiting
            return []
        ids = cast(list[str], self.redis.zrangebyscore("rw:heartbeats", "-inf", time.time() - older_than))
        jobs = []
        for job_id in ids:
            try:
                job = self.get_job(job_id, team=None)
            except NotFound:
                self.redis.zrem("rw:heartbeats", job_id)
                continue
            if job.status in job.lifecycle.active:
                jobs.append(job)
        return jobs

    def requeue_stale(self, older_than: float) -> list[JobRecord]:
        """Put jobs whose supervisor went silent back to `queued` (cancelled, if a cancel was asked).

        Returns the jobs now queued: the caller enqueues them.
        """
        queued = []
        for job in self.stale_jobs(older_than):
            cycle = job.lifecycle
            owned = sorted(cycle.active - {cycle.cancelling or ""})
            if self.transition(
                job.id, owned, cycle.queued, attempt=job.attempts, unless_cancel_requested=True
            ):
                queued.append(self.get_job(job.id, team=None))
            else:
                self.transition(job.id, sorted(cycle.active), cycle.cancelled, attempt=job.attempts)
        return queued

    def job_counts(self) -> dict[tuple[str, str], int]:
        """(kind, status) → number of jobs, for the metrics gauge."""
        counts: dict[tuple[str, str], int] = {}
        for name, value in cast(dict[str, str], self.redis.hgetall("rw:jobcounts")).items():
            kind, _, status = name.partition(":")
            counts[(kind, status)] = int(value)
        return counts

    def team_job_counts(self) -> dict[tuple[str, str, str, str], int]:
        """(team, queue, kind, status) → number of jobs, for the per-team queue depth and running jobs.

        Kept by the same scripts as ``job_counts``; jobs recorded before these counts existed are not in them.
        """
        counts: dict[tuple[str, str, str, str], int] = {}
        for name, value in cast(dict[str, str], self.redis.hgetall(TEAM_COUNTS)).items():
            team, queue, kind, status = name.rsplit(":", 3)
            if int(value):
                counts[(team, queue, kind, status)] = int(value)
        return counts


def job_found(raw: dict[str, str], job_id: str, team: str | None) -> JobRecord:
    """The job of the hash ``raw`` read for ``job_id`` if it exists and is ``team``'s (any team's when None)."""
    if not raw or (team is not None and raw.get("team") != team):
        raise NotFound(f"No such job: {job_id}", param="job_id")
    return job_from_hash(raw)
