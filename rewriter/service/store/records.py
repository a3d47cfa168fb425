"""What the store hands out: one frozen dataclass per resource, and a page of them for the cursor lists."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from rewriter.jobs.kinds import Lifecycle, lifecycle

T = TypeVar("T")
Order = Literal["asc", "desc"]


@dataclass(frozen=True)
class Page(Generic[T]):
    data: list[T]
    has_more: bool


@dataclass(frozen=True)
class FileRecord:
    id: str
    team: str
    filename: str
    purpose: str
    bytes: int
    created_at: int
    schema: str
    rows: int
    sha256: str
    path: str  # where the artifact lives in Artifacts
    status: str = "processed"


@dataclass(frozen=True)
class ModelRecord:
    """A model a job trained: full weights (``kind="model"``) or a LoRA adapter on ``parent``."""

    id: str
    team: str
    created_at: int
    kind: str  # model | adapter
    parent: str  # the model it was trained from (a base model or another trained model)
    base: str  # the base model at the root of its lineage
    path: str  # its directory in Artifacts
    job_id: str
    training_file: str
    method: str


@dataclass(frozen=True)
class JobRecord:
    id: str
    team: str
    kind: str
    status: str
    queue: str
    spec: dict[str, Any]
    created_at: int
    updated_at: float
    started_at: int | None = None
    finished_at: int | None = None
    result: Any = None
    progress: Any = None
    error: dict[str, Any] | None = None
    attempts: int = 0
    heartbeat_at: float | None = None
    cancel_requested_at: int | None = None

    @property
    def lifecycle(self) -> Lifecycle:
        return lifecycle(self.kind)

    @property
    def is_terminal(self) -> bool:
        return self.status in self.lifecycle.terminal


@dataclass(frozen=True)
class Event:
    id: str  # the stream entry id: pass it back as `after`
    created_at: int
    level: str
    type: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)
