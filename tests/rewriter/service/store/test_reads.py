"""The API's async reads (``redis.asyncio``, a real redis-server) give the sync store's answers and errors, and give
up on an unreachable Redis after their patience."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
import redis

from rewriter.errors import NotFound, Unauthorized
from rewriter.service.store import Store
from rewriter.service.store.reads import AsyncReads
from rewriter.settings import RedisSettings
from tests.conftest import free_port
from tests.rewriter.service.store.test_files import a_file
from tests.rewriter.service.store.test_models import a_model

pytestmark = pytest.mark.integration
T = TypeVar("T")
LAST_EVENT = f"{2**64 - 1}-{2**64 - 1}"  # the largest stream id: no event can follow it


def run(url: str, read: Callable[[AsyncReads], Awaitable[T]], patience: float = 2.0) -> T:
    """``read`` on a fresh ``AsyncReads`` in its own event loop (its connections belong to that loop)."""

    async def go() -> T:
        reads = AsyncReads.from_url(url, patience=patience)
        try:
            return await read(reads)
        finally:
            await reads.aclose()

    return asyncio.run(go())


def test_async_reads_answer_as_the_sync_store(store: Store, redis_url: str) -> None:
    key = store.create_key("acme")
    team = store.team_for_key(key)
    files = [a_file(team, purpose="rewrite" if i % 2 else "fine-tune") for i in range(5)]
    for record in files:
        store.add_file(record)
    jobs = [store.create_job(team, "rewrite", {"k": i}) for i in range(3)]
    event_ids = [store.add_event(jobs[0].id, f"event {i}", data={"i": i}) for i in range(4)]
    store.add_model(a_model(team, "ftjob-1"))

    async def read_all(reads: AsyncReads) -> dict[str, Any]:
        return {
            "team": await reads.team_for_key(key),
            "file": await reads.get_file(files[0].id, team=team),
            "files": await reads.list_files(team, limit=2),
            "files after": await reads.list_files(team, after=files[1].id, order="asc", purpose="rewrite"),
            "job": await reads.get_job(jobs[1].id, team=team),
            "jobs": await reads.list_jobs(team, "rewrite", limit=2, order="asc"),
            "events": await reads.list_events(jobs[0].id, team=team, after=event_ids[0], limit=2),
            "events past the end": await reads.list_events(jobs[0].id, team=team, after=LAST_EVENT),
            "model": await reads.get_model("ft:toy:acme:abcd1234", team=team),
            "models": await reads.list_models(team),
        }

    expected = {
        "team": team,
        "file": store.get_file(files[0].id, team=team),
        "files": store.list_files(team, limit=2),
        "files after": store.list_files(team, after=files[1].id, order="asc", purpose="rewrite"),
        "job": store.get_job(jobs[1].id, team=team),
        "jobs": store.list_jobs(team, "rewrite", limit=2, order="asc"),
        "events": store.list_events(jobs[0].id, team=team, after=event_ids[0], limit=2),
        "events past the end": store.list_events(jobs[0].id, team=team, after=LAST_EVENT),
        "model": store.get_model("ft:toy:acme:abcd1234", team=team),
        "models": store.list_models(team),
    }
    got = run(redis_url, read_all)
    assert got == expected
    assert [f.id for f in got["files"].data] == [files[4].id, files[3].id] and got["files"].has_more
    assert [e.id for e in got["events"].data] == event_ids[1:3] and got["events"].has_more
    assert got["events past the end"].data == []
    assert [f.id for f in got["files after"].data] == [files[3].id], "the rewrite files after the first one"


@pytest.mark.parametrize(
    "read",
    [
        lambda reads: reads.get_file("file-nope", team="team-a"),
        lambda reads: reads.list_files("team-a", after="file-nope"),
        lambda reads: reads.get_job("rwjob-nope", team="team-a"),
        lambda reads: reads.list_events("rwjob-nope", team="team-a"),
        lambda reads: reads.list_events("rwjob-nope", team="team-a", after="not-an-id"),
        lambda reads: reads.get_model("ft:toy:acme:nope", team="team-a"),
    ],
    ids=["file", "file cursor", "job", "events of a missing job", "a bad cursor of a missing job", "model"],
)
def test_a_missing_or_foreign_resource_is_not_found(
    redis_url: str, read: Callable[[AsyncReads], Awaitable[object]]
) -> None:
    with pytest.raises(NotFound):
        run(redis_url, read)


def test_another_teams_job_and_an_unknown_key_are_refused(store: Store, redis_url: str) -> None:
    job = store.create_job("team-a", "rewrite", {})
    with pytest.raises(NotFound):
        run(redis_url, lambda reads: reads.get_job(job.id, team="team-b"))
    with pytest.raises(Unauthorized):
        run(redis_url, lambda reads: reads.team_for_key("sk-rw-not-a-key"))


def test_an_unreachable_redis_raises_after_about_the_patience() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    began = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        run(url, lambda reads: reads.get_job("rwjob-x", team=None), patience=0.5)
    waited = time.monotonic() - began
    assert 0.2 <= waited < 5, (
        f"gave up after {waited:.2f} s; the patience was 0.5 s (backoff 0.04 s doubling)"
    )


def test_the_settings_timeouts_reach_the_async_client() -> None:
    settings = RedisSettings(connect_timeout_seconds=1.5, socket_timeout_seconds=2.5)
    reads = AsyncReads.from_url("redis://127.0.0.1:1/0", settings, patience=3.0)
    kwargs = reads.redis.connection_pool.connection_kwargs
    assert (kwargs["socket_connect_timeout"], kwargs["socket_timeout"]) == (1.5, 2.5)
    assert kwargs["retry"].patience == 3.0
    asyncio.run(reads.aclose())
