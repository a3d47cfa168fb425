"""Enqueue jobs by task name. The API is only a Celery producer: it never imports the workers."""

from __future__ import annotations

from celery import Celery

from rewriter.jobs.kinds import RUN_JOB, RunJob
from rewriter.service.store import JobRecord


class Enqueuer:
    """``enqueue(job)``: send ``RUN_JOB`` with the job's id to the job's queue."""

    def __init__(self, broker_url: str) -> None:
        self.celery = Celery("rewriter-api", broker=broker_url)
        self.celery.conf.update(task_ignore_result=True, broker_connection_retry_on_startup=True)

    def __call__(self, job: JobRecord) -> None:
        self.celery.send_task(RUN_JOB, args=RunJob(job.id).args, queue=job.queue)

    def close(self) -> None:
        self.celery.close()
