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
        broker_connection_retry_on_startup=True,
        beat_schedule={
            "sweep-stale-jobs": {
                "task": SWEEP,
                "schedule": sweep_every,
                "options": {"queue": "cpu", "expires": sweep_every},
            }
        },
    )
    return celery


app = create_celery(get_settings())
