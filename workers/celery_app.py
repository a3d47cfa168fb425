"""The Celery application: Redis broker from settings, queues ``cpu`` and ``gpu``, a periodic sweep.

    celery -A workers.celery_app worker -Q cpu -c 2            # CPU jobs
    celery -A workers.celery_app worker -Q gpu -c 1            # one GPU job at a time per GPU worker
    celery -A workers.celery_app beat                          # exactly one beat: the stale-job sweep

Tasks are thin (``workers/tasks.py``); each job's heavy work runs in a supervised child process
(``workers/supervisor.py``).
"""

from __future__ import annotations

from celery import Celery
from kombu import Queue

from rewriter.jobs.kinds import QUEUES, RUN_JOB, SWEEP
from rewriter.settings import Settings, get_settings

__all__ = ["QUEUES", "RUN_JOB", "SWEEP", "app", "create_celery"]


def create_celery(settings: Settings) -> Celery:
    # Sweeping at half the staleness threshold finds a dead worker's job within 1.5 x stale_after_seconds.
    sweep_every = settings.worker.stale_after_seconds / 2
    celery = Celery("rewriter", broker=settings.redis_url, include=["workers.tasks"])
    celery.conf.update(
        task_queues=[Queue(name) for name in QUEUES],
        task_default_queue="cpu",
        # One job per worker slot, acknowledged only when it ends: a worker that dies mid-job leaves the message
        # unacknowledged instead of losing it (the sweep re-queues the job sooner; duplicates are skipped).
        worker_prefetch_multiplier=1,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # Job state lives in the store: no result backend.
        task_ignore_result=True,
        # Redis restarts (docs/operations.md): the worker waits for the broker as long as it takes, at start-up and
        # after losing it, and keeps supervising the job in flight meanwhile (its store calls retry on their own).
        # A message whose worker lost the broker before acknowledging it is delivered again after the visibility
        # timeout: run_job skips a job that is finished or owned, so the copy is harmless.
        broker_connection_retry_on_startup=True,
        broker_connection_retry=True,
        broker_connection_max_retries=None,
        broker_connection_timeout=settings.redis.connect_timeout_seconds,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        broker_transport_options=broker_transport_options(settings),
        beat_schedule={
            "sweep-stale-jobs": {
                "task": SWEEP,
                "schedule": sweep_every,
                "options": {"queue": "cpu", "expires": sweep_every},
            }
        },
    )
    return celery


def broker_transport_options(settings: Settings) -> dict[str, object]:
    """kombu's Redis transport options: bounded socket timeouts (a dead Redis is noticed, not waited on forever),
    keepalive, a health check, and the visibility timeout after which an unacknowledged message is delivered again."""
    return {
        "visibility_timeout": 3600,
        "socket_connect_timeout": settings.redis.connect_timeout_seconds,
        "socket_timeout": settings.redis.socket_timeout_seconds,
        "socket_keepalive": True,
        "health_check_interval": 10,
        "retry_on_timeout": True,
    }


app = create_celery(get_settings())
