"""File metadata in the Redis store (a real redis-server): team scoping and the cursor lists."""

from __future__ import annotations

import pytest

from rewriter.errors import InvalidRequest, NotFound
from rewriter.ids import Prefix, new_id, now
from rewriter.service.store import FileRecord, Store

pytestmark = pytest.mark.integration


def a_file(team: str, purpose: str = "rewrite") -> FileRecord:
    file_id = new_id(Prefix.FILE)
    return FileRecord(
        id=file_id,
        team=team,
        filename="data.jsonl",
        purpose=purpose,
        bytes=10,
        created_at=now(),
        schema="qa",
        rows=1,
        sha256="0" * 64,
        path=f"files/{team}/{file_id}.jsonl",
    )


def test_files_are_scoped_to_their_team(store: Store) -> None:
    record = a_file("team-a")
    store.add_file(record)
    assert store.get_file(record.id, team="team-a") == record
    with pytest.raises(NotFound):
        store.get_file(record.id, team="team-b")
    with pytest.raises(NotFound):
        store.delete_file(record.id, team="team-b")
    assert store.list_files("team-b").data == []
    assert store.delete_file(record.id, team="team-a") == record
    with pytest.raises(NotFound):
        store.get_file(record.id, team="team-a")
    assert store.list_files("team-a").data == []


def test_file_list_cursor_pages_through_everything_once(store: Store) -> None:
    created = [a_file("team-a", purpose="rewrite" if i % 2 else "fine-tune") for i in range(7)]
    for record in created:
        store.add_file(record)
    newest_first = [r.id for r in reversed(created)]
    seen: list[str] = []
    after = None
    while True:
        page = store.list_files("team-a", after=after, limit=3)
        seen += [r.id for r in page.data]
        if not page.has_more:
            break
        after = page.data[-1].id
    assert seen == newest_first
    assert [r.id for r in store.list_files("team-a", order="asc", limit=100).data] == newest_first[::-1]
    assert {r.purpose for r in store.list_files("team-a", purpose="rewrite").data} == {"rewrite"}
    assert len(store.list_files("team-a", purpose="rewrite").data) == 3
    with pytest.raises(NotFound) as bad:  # an unknown cursor is an unknown id
        store.list_files("team-a", after="file-nope")
    assert bad.value.param == "after"
    with pytest.raises(InvalidRequest):
        store.list_files("team-a", limit=0)
