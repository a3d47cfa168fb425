"""Teams and API keys in the Redis store (a real redis-server), and the store's own reachability check."""

from __future__ import annotations

import pytest

from rewriter.errors import InvalidRequest, Unauthorized, Unavailable
from rewriter.ids import Prefix, has_prefix
from rewriter.service.store import Store
from tests.conftest import free_port

pytestmark = pytest.mark.integration


def test_keys_map_to_teams_and_only_hashes_are_stored(store: Store) -> None:
    key = store.create_key("acme")
    other = store.create_key("acme")
    assert key != other
    team = store.team_for_key(key)
    assert has_prefix(team, Prefix.TEAM)
    assert store.team_for_key(other) == team
    assert store.team_name(team) == "acme"
    assert store.team_for_key(store.create_key("globex")) != team
    assert not any(key in k for k in store.redis.keys("*")), "the plaintext key must not be a Redis key"
    with pytest.raises(Unauthorized):
        store.team_for_key(key + "x")
    with pytest.raises(InvalidRequest):
        store.create_key("bad name with spaces")


def test_ping_reports_an_unreachable_redis() -> None:
    with pytest.raises(Unavailable):
        Store.from_url(f"redis://127.0.0.1:{free_port()}/0", patience=0).ping()  # no waiting for it
