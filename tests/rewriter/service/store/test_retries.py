"""Store writes retried after a lost reply (a real redis-server): Redis applies the command, the connection drops
before the client reads the answer, and the client's retry sends it again. Nothing is applied twice, and no retry
is refused by its own first application. Also: the sweep waits after a Redis restart, and the retry gives up after
its patience."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from rewriter.service.store import Store
from rewriter.service.store.base import PatientRetry
from rewriter.settings import RedisSettings

pytestmark = pytest.mark.integration


@pytest.fixture
def lose_reply(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Set ``lose_reply["command"] = "EVALSHA"``: the reply to the next such command is dropped after Redis
    applied it (the connection "drops"), and the client's retry sends the command again."""
    state: dict[str, Any] = {"command": None, "lost": False}
    parse = redis.Redis.parse_response

    def parse_response(self: redis.Redis, connection: Any, command_name: str, **options: Any) -> Any:
        reply = parse(self, connection, command_name, **options)
        if state["command"] == command_name:
            state["command"], state["lost"] = None, True
            raise redis.ConnectionError("connection lost before the reply was read")
        return reply

    monkeypatch.setattr(redis.Redis, "parse_response", parse_response)
    yield state


def test_an_event_retried_after_a_lost_reply_is_added_once(store: Store, lose_reply: dict[str, Any]) -> None:
    job = store.create_job("team-r", "selftest", {}, status="queued")
    store.add_event(job.id, "first")  # loads the script: the lost reply below is the append's
    lose_reply["command"] = "EVALSHA"
    second = store.add_event(job.id, "second")
    assert lose_reply["lost"]
    events = store.list_events(job.id, team=None).data
    assert [e.message for e in events] == ["first", "second"] and events[1].id == second


def test_a_job_creation_retried_after_a_lost_reply_counts_once(
    store: Store, lose_reply: dict[str, Any]
) -> None:
    store.create_job("team-r", "selftest", {}, status="queued")
    lose_reply["command"] = "EVALSHA"
    job = store.create_job("team-r", "selftest", {}, status="queued")
    assert lose_reply["lost"] and store.get_job(job.id, team=None).status == "queued"
    assert store.job_counts()[("selftest", "queued")] == 2
    assert len(store.list_jobs("team-r", "selftest").data) == 2


def test_a_claim_retried_after_a_lost_reply_is_not_refused_by_itself(
    store: Store, lose_reply: dict[str, Any]
) -> None:
    job = store.create_job("team-r", "selftest", {}, status="queued")
    store.transition(job.id, ["queued"], "queued")  # loads the script
    lose_reply["command"] = "EVALSHA"
    assert store.claim(job.id) == 1, "the retry recognises its own claim"
    assert lose_reply["lost"]
    assert store.claim(job.id) is None, "another claim is still refused"
    assert store.get_job(job.id, team=None).attempts == 1
    assert store.job_counts()[("selftest", "in_progress")] == 1


def test_a_team_created_with_a_lost_reply_is_complete(store: Store, lose_reply: dict[str, Any]) -> None:
    lose_reply["command"] = "SET"
    team = store.ensure_team("lost-reply")
    assert lose_reply["lost"] and store.team_name(team) == "lost-reply"
    assert store.ensure_team("lost-reply") == team


def test_the_sweep_waits_while_redis_is_younger_than_the_staleness(store: Store) -> None:
    job = store.create_job("team-r", "selftest", {}, status="queued")
    store.claim(job.id)
    time.sleep(0.3)
    uptime = int(store.redis.info("server")["uptime_in_seconds"])
    assert store.stale_jobs(older_than=uptime + 5) == [], (
        "Redis restarted recently: no supervisor is presumed dead"
    )
    assert [j.id for j in store.stale_jobs(older_than=0.2)] == [job.id]


def test_a_store_gives_up_after_its_patience(redis_url: str) -> None:
    down = redis_url.rsplit(":", 1)[0] + ":1/0"  # nothing listens on port 1
    store = Store.from_url(down, RedisSettings(backoff_cap_seconds=0.2), patience=1.0)
    began = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        store.get_job("rwjob-x", team=None)
    assert 0.8 <= time.monotonic() - began < 5
    assert PatientRetry(3) == PatientRetry(3) != PatientRetry(4)
