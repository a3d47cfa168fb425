"""The job context every runner gets, and ``entry``: the ``__main__`` guard of every job's child process.

A child is ``python -m <module> <job_id>`` (``workers.supervisor`` starts it). ``entry(run, Spec)`` builds the
context — settings, the store, the artifacts, the model registry, the job's record and its spec typed as ``Spec`` —
calls ``run(ctx)`` and exits with its code. An expected failure (a :class:`~rewriter.errors.RewriterError`, a
``ValueError`` — bad settings or a spec included — or a missing file) exits 2 with ``<Type>: <reason>`` as the last
line of stderr, which the supervisor makes the job's error message and does not retry; anything else (a bug, a
CUDA error) exits 1 with its traceback, and the job is retried like a child killed by a signal. The runner talks to the store only through the context: events, progress, result, the cancel flag.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, NoReturn, TypeVar

from pydantic import BaseModel

from rewriter.errors import RewriterError
from rewriter.results import Stored
from rewriter.service import files
from rewriter.service.artifacts import Artifacts
from rewriter.service.models import Registry
from rewriter.service.store import FileRecord, JobRecord, Store
from rewriter.settings import Settings, get_settings

S = TypeVar("S", bound=BaseModel)
EXPECTED = (RewriterError, ValueError, FileNotFoundError)  # the reason alone becomes the job's error
EXPECTED_EXIT = 2


@dataclass
class JobContext(Generic[S]):
    """One job, as its child process sees it."""

    settings: Settings
    store: Store
    artifacts: Artifacts
    registry: Registry
    job: JobRecord  # as read when the child started (``result`` is what earlier attempts left)
    spec: S

    @classmethod
    def load(cls, job_id: str, spec_type: type[S], settings: Settings | None = None) -> JobContext[S]:
        settings = settings or get_settings()
        store = Store.from_url(settings.redis_url, settings.redis)
        artifacts = Artifacts(settings.artifacts_url)
        registry = Registry(store, artifacts, settings.base_models)
        job = store.get_job(job_id, team=None)
        return cls(settings, store, artifacts, registry, job, spec_type.model_validate(job.spec))

    @property
    def id(self) -> str:
        return self.job.id

    @property
    def team(self) -> str:
        return self.job.team

    @property
    def work(self) -> Path:
        """The job's folder on this machine: the same for every attempt, so a rerun finds what the last left."""
        return self.settings.data_dir / "work" / self.job.id

    @property
    def cache(self) -> Path:
        """Where models kept in an object store are downloaded to."""
        return self.settings.data_dir / "models"

    def event(
        self,
        message: str,
        *,
        type: str = "message",
        level: str = "info",
        data: Mapping[str, Any] | None = None,
    ) -> None:
        self.store.add_event(self.job.id, message, level=level, type=type, data=data)

    def progress(self, progress: Stored) -> None:
        self.store.set_progress(self.job.id, progress.stored())

    def result(self, result: Stored) -> None:
        self.store.set_result(self.job.id, result.stored())

    def cancelled(self) -> bool:
        """Whether a cancel was asked (the store's flag): a runner that polls it stops at its next boundary."""
        return self.store.cancel_requested(self.job.id)

    def transition(self, from_statuses: list[str], to_status: str) -> bool:
        """Move the job on, as this attempt (refused once the job was claimed again or left those statuses)."""
        return self.store.transition(self.job.id, from_statuses, to_status, attempt=self.job.attempts)

    def fetch(self, file_id: str, dest: Path) -> FileRecord:
        """A local copy of one of the team's files at ``dest``, made once: a rerun finds it there."""
        return files.fetch(self.store, self.artifacts, self.job.team, file_id, dest)

    def publish(self, local: Path, *, purpose: str, schema: str, rows: int) -> FileRecord:
        """Make a file the job wrote a file of the team: ``outputs/<team>/<job>/<name>``, named ``<job>-<name>``."""
        return files.publish(
            self.store,
            self.artifacts,
            self.job.team,
            local,
            f"outputs/{self.job.team}/{self.job.id}/{local.name}",
            filename=f"{self.job.id}-{local.name}",
            purpose=purpose,
            schema=schema,
            rows=rows,
        )


Runner = Callable[[JobContext[S]], int]


def entry(run: Runner[S], spec_type: type[S], argv: list[str] | None = None) -> NoReturn:
    """Run the job named on the command line (``argv[1]``) and exit with the runner's code (see the module)."""
    job_id = (sys.argv if argv is None else argv)[1]
    try:
        code = run(JobContext.load(job_id, spec_type))
    except EXPECTED as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(EXPECTED_EXIT)
    sys.exit(code)
