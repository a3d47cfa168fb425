"""Job kinds, below the store: the statuses each kind moves through, its id prefixes, and the Celery task names that
run jobs.

- ``JOB_KINDS``: kind → lifecycle (statuses in OpenAI's words for that kind) and id prefix.
- ``RUN_JOB`` / ``SWEEP``: Celery task names. The API enqueues by name (``RunJob(job_id).args``) and never imports
  the workers; the workers register these names.

The store (``rewriter.service.store``) imports its lifecycles from here; this module imports nothing of the service
layer.
"""

from __future__ import annotations

from dataclasses import dataclass

from rewriter.errors import InvalidRequest
from rewriter.ids import Prefix

# ---- lifecycles ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lifecycle:
    """The statuses a job kind moves through, in OpenAI's words for that kind of job."""

    initial: str  # set at creation, while the inputs are checked
    running: str  # a supervisor owns the job from here
    done: str
    statuses: tuple[str, ...]
    active: frozenset[str]  # statuses in which a supervisor heartbeats the job
    cancelling: str | None = None  # kinds without it stay `running` until the child is stopped
    queued: str = "queued"
    failed: str = "failed"
    cancelled: str = "cancelled"

    @property
    def terminal(self) -> frozenset[str]:
        return frozenset({self.done, self.failed, self.cancelled})

    @property
    def pending(self) -> frozenset[str]:
        return frozenset({self.initial, self.queued})


REWRITE_LIFECYCLE = Lifecycle(
    initial="validating",
    running="in_progress",
    done="completed",
    statuses=(
        "validating",
        "queued",
        "in_progress",
        "finalizing",
        "completed",
        "failed",
        "cancelling",
        "cancelled",
    ),
    active=frozenset({"in_progress", "finalizing", "cancelling"}),
    cancelling="cancelling",
)
TRAINING_LIFECYCLE = Lifecycle(
    initial="validating_files",
    running="running",
    done="succeeded",
    statuses=("validating_files", "queued", "running", "succeeded", "failed", "cancelled"),
    active=frozenset({"running"}),
)
# kind → (lifecycle, id prefix). A new kind adds a line here and its child module in workers/tasks.py.
JOB_KINDS: dict[str, tuple[Lifecycle, Prefix]] = {
    "rewrite": (REWRITE_LIFECYCLE, Prefix.REWRITE_JOB),
    "fine_tune": (TRAINING_LIFECYCLE, Prefix.FINE_TUNE_JOB),
    "eval": (TRAINING_LIFECYCLE, Prefix.EVAL),
    "selftest": (REWRITE_LIFECYCLE, Prefix.JOB),  # exercises the supervisor with a trivial child
}
# The public id prefix of each kind's events (the event cursor is the Redis stream id behind it).
EVENT_PREFIX: dict[str, Prefix] = {
    "rewrite": Prefix.REWRITE_EVENT,
    "fine_tune": Prefix.FINE_TUNE_EVENT,
    "eval": Prefix.EVAL_EVENT,
    "selftest": Prefix.REWRITE_EVENT,
}


def lifecycle(kind: str) -> Lifecycle:
    """The kind's lifecycle; InvalidRequest (``param="kind"``) for a kind there is none of.

    >>> lifecycle("fine_tune").done, sorted(lifecycle("rewrite").terminal)
    ('succeeded', ['cancelled', 'completed', 'failed'])
    """
    try:
        return JOB_KINDS[kind][0]
    except KeyError:
        raise InvalidRequest(f"unknown job kind {kind!r}; known: {sorted(JOB_KINDS)}", param="kind") from None


# ---- tasks --------------------------------------------------------------------------------------------------

QUEUES = ("cpu", "gpu")
RUN_JOB = "rewriter.run_job"
RUN_SHARDS = "rewriter.run_shards"  # a rewrite job's helper: takes its shards for a turn (workers/tasks.py)
SWEEP = "rewriter.sweep"


@dataclass(frozen=True)
class RunJob:
    """The payload of ``RUN_JOB``: one job id. The task re-reads everything else from the store."""

    job_id: str

    @property
    def args(self) -> list[str]:
        return [self.job_id]


def queue_for(engine: str) -> str:
    """vLLM needs a GPU worker; everything else runs on the CPU queue.

    >>> queue_for("vllm"), queue_for("hf")
    ('gpu', 'cpu')
    """
    return "gpu" if engine == "vllm" else "cpu"
