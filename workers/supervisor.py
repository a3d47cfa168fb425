"""Run one job's heavy work in a supervised child process.

The child is ``python -m <module> <job_id>``, a plain (non-daemonic) process in a session of its own, so it may
start processes itself (vLLM does) and can be stopped as a group. While it runs the supervisor heartbeats the job,
polls its cancel flag (SIGTERM to the group, SIGKILL after a grace period) and, when it exits, maps the exit code
to the job's status: 0 → done; cancelled whenever a cancel was asked; a retryable failure (a signal — SIGKILL from
the OOM killer —, a crash, an uncaught exception) → back to `queued` for another attempt while attempts remain, with
an event saying why (``workers.failures``); otherwise failed, with an error naming the cause and the last meaningful
lines of stderr. A child's own "this cannot run" exit (2) fails the job at once.

What a child module must do (``rewriter.runs.context.entry`` does the reading and the exiting): read the job from
the store (``Store.get_job(job_id, team=None)``), do the work, report with ``add_event`` / ``set_progress`` /
``set_result``, exit 0 on success or non-zero with the reason on stderr, stop promptly on SIGTERM, and be
resumable: a job whose worker or child died is run again from the start of the module with the same job id.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import IO

import redis

from rewriter.errors import NotFound
from rewriter.service.store import Store
from workers.failures import Failure, retry_delay

log = logging.getLogger(__name__)

STDERR_TAIL_BYTES = 16000  # progress bars redrawn with \r take room; workers.failures filters them out
_PR_SET_PDEATHSIG = 1


def supervise(
    store: Store,
    job_id: str,
    module: str,
    *,
    attempt: int,
    heartbeat_seconds: float,
    grace_seconds: float = 10.0,
    poll_seconds: float = 0.2,
    cooperative_seconds: float = 0.0,
    max_attempts: int = 1,
    backoff_seconds: float = 0.0,
) -> str:
    """Run ``module`` for a job this supervisor has claimed (``attempt`` from ``Store.claim``).

    A retryable failure on an attempt before ``max_attempts`` puts the job back to `queued` and returns that
    status: the caller enqueues it again after ``retry_delay(attempt, backoff_seconds)``.

    After a cancel the child gets ``cooperative_seconds`` to stop by itself (it polls the cancel flag) before
    SIGTERM, then ``grace_seconds`` more before SIGKILL. A job taken away is signalled at once.

    Returns the job's final status, or ``"lost"`` when the job was taken away (re-queued by the sweep, claimed
    again): then the child is stopped and the status left to its new owner.
    """
    with tempfile.TemporaryFile() as stderr:
        child = subprocess.Popen(
            [sys.executable, "-m", module, job_id],
            start_new_session=True,
            stderr=stderr,
            preexec_fn=_exit_with_parent(os.getpid()) if sys.platform == "linux" else None,
        )
        log.info("job %s attempt %d: started %s as pid %d", job_id, attempt, module, child.pid)
        try:
            code, cancelled, lost = _watch(
                store,
                job_id,
                child,
                attempt,
                heartbeat_seconds,
                grace_seconds,
                poll_seconds,
                cooperative_seconds,
            )
        finally:
            _signal_group(child.pid, signal.SIGKILL)  # stragglers the child left in its group
            if child.poll() is None:
                child.wait()
        tail = _tail(stderr)
    if lost:
        log.warning("job %s attempt %d: no longer ours; child stopped", job_id, attempt)
        return "lost"
    if cancelled or code == 0:
        status = store.finish(job_id, succeeded=code == 0 and not cancelled, attempt=attempt)
    else:
        status = _failed(store, job_id, Failure(code, tail), attempt, max_attempts, backoff_seconds)
    log.info("job %s attempt %d: child exited with %s → %s", job_id, attempt, code, status)
    return status


def supervise_helper(store: Store, job_id: str, module: str, *, poll_seconds: float = 0.5) -> int:
    """Run a helper of a job (``python -m <module> <job_id>``, not the job's owner: it changes no status) to its
    end; stop it (SIGTERM, SIGKILL 10 s later) if the job stops being in progress. Returns the exit code; a failure
    becomes a warning event of the job (the shard it held is freed when its lease lapses)."""
    with tempfile.TemporaryFile() as stderr:
        child = subprocess.Popen(
            [sys.executable, "-m", module, job_id],
            start_new_session=True,
            stderr=stderr,
            preexec_fn=_exit_with_parent(os.getpid()) if sys.platform == "linux" else None,
        )
        term_sent: float | None = None
        try:
            while True:
                try:
                    code = child.wait(timeout=poll_seconds)
                    break
                except subprocess.TimeoutExpired:
                    pass
                try:
                    active = store.get_job(job_id, team=None).status == "in_progress"
                except (redis.RedisError, NotFound):
                    active = True
                if not active and term_sent is None:
                    _signal_group(child.pid, signal.SIGTERM)
                    term_sent = time.monotonic()
                if term_sent is not None and time.monotonic() - term_sent > 10.0:
                    _signal_group(child.pid, signal.SIGKILL)
        finally:
            _signal_group(child.pid, signal.SIGKILL)
            if child.poll() is None:
                child.wait()
        tail = _tail(stderr)
    if code != 0 and term_sent is None:
        failure = Failure(code, tail)
        details = failure.details
        store.add_event(
            job_id,
            f"A shard helper stopped: {failure.cause}; its shard goes to another process."
            + (f" Last lines of its stderr:\n{details}" if details else ""),
            level="warn",
        )
    return code


def _failed(
    store: Store, job_id: str, failure: Failure, attempt: int, max_attempts: int, backoff_seconds: float
) -> str:
    """Re-queue the job for another attempt if it may help and attempts remain, else fail it: the status."""
    if failure.retryable and attempt < max_attempts:
        delay = retry_delay(attempt, backoff_seconds)
        if store.retry(job_id, attempt=attempt):
            details = failure.details
            store.add_event(
                job_id,
                f"Attempt {attempt + 1} of {max_attempts} after {failure.cause}; retrying in {delay:g} s."
                + (f" Last lines of its stderr:\n{details}" if details else ""),
                level="warn",
                data={"attempt": attempt + 1, "max_attempts": max_attempts, "returncode": failure.returncode},
            )
            return store.get_job(job_id, team=None).status
    message = failure.message(attempt, max(attempt, max_attempts))
    error = {"code": "job_failed", "message": message, "param": None}
    return store.finish(job_id, succeeded=False, attempt=attempt, error=error)


def _watch(
    store: Store,
    job_id: str,
    child: subprocess.Popen[bytes],
    attempt: int,
    heartbeat_seconds: float,
    grace_seconds: float,
    poll_seconds: float,
    cooperative_seconds: float = 0.0,
) -> tuple[int, bool, bool]:
    """Wait for the child while heartbeating and honouring cancels: (exit code, cancelled, lost)."""
    next_beat = 0.0
    cancel_seen: float | None = None
    term_sent: float | None = None
    lost = False
    while True:
        try:
            return child.wait(timeout=poll_seconds), cancel_seen is not None and not lost, lost
        except subprocess.TimeoutExpired:
            pass
        moment = time.monotonic()
        try:
            if moment >= next_beat and not lost:
                next_beat = moment + heartbeat_seconds
                if not store.heartbeat(job_id, attempt=attempt):
                    lost = True
            if cancel_seen is None and (lost or store.cancel_requested(job_id)):
                cancel_seen = moment
            if (
                term_sent is None
                and cancel_seen is not None
                and (lost or moment - cancel_seen >= cooperative_seconds)
            ):
                _signal_group(child.pid, signal.SIGTERM)
                term_sent = moment
        except (redis.RedisError, NotFound) as exc:  # keep supervising through a Redis blip
            log.warning("job %s: store unreachable while supervising: %s", job_id, exc)
        if term_sent is not None and moment - term_sent > grace_seconds:
            _signal_group(child.pid, signal.SIGKILL)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)  # the child leads its own session, so its pid is its group id


def _tail(stream: IO[bytes]) -> str:
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    stream.seek(max(0, size - STDERR_TAIL_BYTES))
    return stream.read().decode("utf-8", errors="replace").strip()


def _exit_with_parent(parent: int) -> Callable[[], None]:
    """Ask the kernel to SIGKILL the child when the supervising process dies (a killed worker must not leave a
    job running unsupervised next to its re-queued copy)."""

    def arm() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return arm
