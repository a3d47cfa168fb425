"""Enqueue jobs by task name. The API is only a Celery producer: it never imports the workers."""

from __future__ import annotations

from celery import Celery

from rewriter.jobs.kinds import RUN_JOB, RunJob
from rewriter.service.store import JobRecord
from rewriter.settings import RedisSettings


class Enqueuer:
    """``enqueue(job)``: send ``RUN_JOB`` with the job's id to the job's queue.

    While Redis is down a send is retried for about ``settings.api_patience_seconds``, then raises kombu's
    ``OperationalError`` (the API answers 503).
    """

    def __init__(self, broker_url: str, settings: RedisSettings | None = None) -> None:
        settings = settings or RedisSettings()
        self.celery = Celery("rewriter-api", broker=broker_url)
        self.celery.conf.update(
            task_ignore_result=True,
            broker_connection_retry_on_startup=True,
            broker_connection_timeout=settings.connect_timeout_seconds,
            broker_transport_options={
                "socket_connect_timeout": settings.connect_timeout_seconds,
                "socket_timeout": settings.socket_timeout_seconds,
                "socket_keepalive": True,
                "health_check_interval": 10,
            },
            task_publish_retry_policy={
                "max_retries": max(1, round(settings.api_patience_seconds / 0.5)),
                "interval_start": 0,
                "interval_step": 0.25,
                "interval_max": 0.5,
            },
        )

    def __call__(self, job: JobRecord) -> None:
        self.celery.send_task(RUN_JOB, args=RunJob(job.id).args, queue=job.queue)

    def close(self) -> None:
        self.celery.close()
