"""Per-job event streams in the Redis store (a real redis-server): cursors, paging and team scoping."""

from __future__ import annotations

import pytest

from rewriter.errors import InvalidRequest, NotFound
from rewriter.service.store import Store

pytestmark = pytest.mark.integration


def test_event_stream_cursor_pagination(store: Store) -> None:
    job = store.create_job("team-a", "fine_tune", {})
    ids = [store.add_event(job.id, f"step {i}", type="metrics", data={"step": i}) for i in range(25)]
    first = store.list_events(job.id, team="team-a", limit=10)
    assert [e.message for e in first.data] == [f"step {i}" for i in range(10)] and first.has_more
    second = store.list_events(job.id, team="team-a", after=first.data[-1].id, limit=10)
    assert [e.data["step"] for e in second.data] == list(range(10, 20)) and second.has_more
    third = store.list_events(job.id, team="team-a", after=second.data[-1].id, limit=10)
    assert [e.id for e in third.data] == ids[20:] and not third.has_more
    assert store.list_events(job.id, team="team-a", after=ids[-1]).data == []
    assert third.data[0].type == "metrics" and third.data[0].level == "info" and third.data[0].created_at > 0
    with pytest.raises(NotFound):
        store.list_events(job.id, team="team-b")
    with pytest.raises(InvalidRequest):
        store.list_events(job.id, team="team-a", after="not-a-cursor")
