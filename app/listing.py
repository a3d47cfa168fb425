"""What the API objects share: an ``id``, cursor lists (OpenAI's ``{"object": "list", "data": [...],
"has_more"}``), job events and the error of a failed job."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from typing import Any, Generic, Literal, Self, TypeVar

from pydantic import BaseModel

from rewriter.jobs.kinds import EVENT_PREFIX
from rewriter.service.store import Event, JobRecord, Page

T = TypeVar("T")


class APIObject(BaseModel):
    """An object the API returns; its ``id`` is the cursor of the lists it appears in."""

    id: str


Item = TypeVar("Item", bound=APIObject)


class ListObject(BaseModel, Generic[Item]):
    object: Literal["list"] = "list"
    data: list[Item]
    has_more: bool
    first_id: str | None = None
    last_id: str | None = None

    @classmethod
    def from_page(cls, page: Page[T], render: Callable[[T], Item]) -> Self:
        """``page`` as a list of API objects, each made by ``render``."""
        data = [render(item) for item in page.data]
        return cls(
            data=data,
            has_more=page.has_more,
            first_id=data[0].id if data else None,
            last_id=data[-1].id if data else None,
        )


class JobError(BaseModel):
    code: str
    message: str
    param: str | None = None


class EventObject(APIObject):
    object: str
    created_at: int
    level: Literal["info", "warn", "error"]
    message: str
    type: Literal["message", "metrics"]
    data: dict[str, Any]

    @classmethod
    def from_record(cls, event: Event, *, kind: str, object: str) -> Self:
        """An event of a ``kind`` job as an ``object`` (``rewrite_job.event``); its id is the stream id under the
        kind's prefix (``rwevent-1700000000000-0``)."""
        return cls(
            id=f"{EVENT_PREFIX[kind].value}-{event.id}",
            object=object,
            created_at=event.created_at,
            level=event.level,
            message=event.message,
            type=event.type,
            data=event.data,
        )


class JobObject(APIObject):
    """The API object of a job resource (rewrite job, fine-tuning job, eval run), made from the job's record."""

    @classmethod
    @abstractmethod
    def from_record(cls, job: JobRecord) -> Self: ...
