"""Per-job event streams: ``rw:job:{id}:events``, a Redis Stream whose entry ids are the event cursors."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import redis

from rewriter.errors import InvalidRequest
from rewriter.ids import now
from rewriter.service.store.base import StoreBase, check_limit
from rewriter.service.store.records import Event, JobRecord, Page

# Events per job kept in its stream (approximate trim): a long fine-tune logs a few metrics per step.
MAX_EVENTS = 100_000
_STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
_MAX_PART = 2**64 - 1  # a stream id is two unsigned 64-bit integers: Redis refuses anything larger


def stream_cursor(after: str) -> str | None:
    """The XRANGE start strictly after the event id ``after`` (None when no id can follow it); InvalidRequest
    (``param="after"``) when it is not an event id.

    >>> stream_cursor("1700000000000-0")
    '(1700000000000-0'
    >>> stream_cursor("18446744073709551616-0")
    Traceback (most recent call last):
    ...
    rewriter.errors.InvalidRequest: after must be an event id such as 1700000000000-0, not '18446744073709551616-0'
    """
    parts = [int(part) for part in after.split("-")] if _STREAM_ID.match(after) else []
    if not parts or max(parts) > _MAX_PART:
        raise InvalidRequest(
            f"after must be an event id such as 1700000000000-0, not {after!r}", param="after"
        )
    return None if parts == [_MAX_PART, _MAX_PART] else f"({after}"


# How long an event's token is kept: longer than any retry of the call that adds it (RedisSettings.patience_seconds).
DEDUP_SECONDS = 3600
# KEYS: stream, the call's token. ARGV: token ttl, maxlen, field, value, ... Returns the entry id.
ADD_ONCE = """
local seen = redis.call('GET', KEYS[2])
if seen then return seen end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
redis.call('SET', KEYS[2], id, 'EX', ARGV[1])
return id
"""


class Events(StoreBase):
    if TYPE_CHECKING:  # from Jobs: an event list checks that the job exists and is the team's

        def get_job(self, job_id: str, *, team: str | None) -> JobRecord: ...

    def __init__(self, client: redis.Redis) -> None:
        super().__init__(client)
        self._add_event = client.register_script(ADD_ONCE)

    def add_event(
        self,
        job_id: str,
        message: str,
        *,
        level: str = "info",
        type: str = "message",
        data: Mapping[str, Any] | None = None,
    ) -> str:
        """Append an event to the job's stream; returns its id (a cursor for ``list_events(after=...)``).

        Once: a retry of the call after a lost reply (Redis restarted) does not append it again.
        """
        entry: dict[Any, Any] = {
            "created_at": now(),
            "level": level,
            "type": type,
            "message": message,
            "data": json.dumps(data or {}),
        }
        args: list[Any] = [DEDUP_SECONDS, MAX_EVENTS]
        for name, value in entry.items():
            args += [name, value]
        # The same call retried after a lost reply finds its token and returns the entry made the first time.
        token = f"rw:job:{job_id}:events:sent:{uuid.uuid4().hex}"
        return str(self._add_event(keys=[f"rw:job:{job_id}:events", token], args=args))

    def list_events(
        self, job_id: str, *, team: str | None, after: str | None = None, limit: int = 20
    ) -> Page[Event]:
        """Events oldest first, strictly after the cursor ``after`` (an event id)."""
        self.get_job(job_id, team=team)
        check_limit(limit)
        start = "-" if after is None else stream_cursor(after)
        if start is None:  # after the largest id there is nothing (and Redis refuses the range)
            return Page([], has_more=False)
        entries = cast(
            list[tuple[str, dict[str, str]]],
            self.redis.xrange(f"rw:job:{job_id}:events", min=start, max="+", count=limit + 1),
        )
        return events_page(entries, limit)


def events_page(entries: list[tuple[str, dict[str, str]]], limit: int) -> Page[Event]:
    """The first ``limit`` stream ``entries`` as events (one more was read, to tell ``has_more``)."""
    events = [
        Event(
            id=entry_id,
            created_at=int(values["created_at"]),
            level=values["level"],
            type=values["type"],
            message=values["message"],
            data=json.loads(values["data"]),
        )
        for entry_id, values in entries[:limit]
    ]
    return Page(events, has_more=len(entries) > limit)
