"""What every job resource shares as API objects: cursor lists (OpenAI's ``{"object": "list", "data": [...],
"has_more"}``), events and the error of a failed job."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel

from rewriter.jobs.kinds import EVENT_PREFIX
from rewriter.service.store import Event, Page

T = TypeVar("T")
Item = TypeVar("Item", bound=BaseModel)


class ListObject(BaseModel, Generic[Item]):
    object: Literal["list"] = "list"
    data: list[Item]
    has_more: bool
    first_id: str | None = None
    last_id: str | None = None


class JobError(BaseModel):
    code: str
    message: str
    param: str | None = None


class EventObject(BaseModel):
    id: str
    object: str
    created_at: int
    level: Literal["info", "warn", "error"]
    message: str
    type: Literal["message", "metrics"]
    data: dict[str, Any]


def list_object(page: Page[T], render: Callable[[T], dict[str, Any]]) -> dict[str, Any]:
    data = [render(item) for item in page.data]
    return {
        "object": "list",
        "data": data,
        "has_more": page.has_more,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


def event_object(kind: str, obj: str) -> Callable[[Event], dict[str, Any]]:
    """A renderer of ``kind``'s events as ``obj`` objects; the id is the stream id under the kind's prefix."""
    prefix = EVENT_PREFIX[kind].value

    def render(event: Event) -> dict[str, Any]:
        return {
            "id": f"{prefix}-{event.id}",
            "object": obj,
            "created_at": event.created_at,
            "level": event.level,
            "message": event.message,
            "type": event.type,
            "data": event.data,
        }

    return render
