"""The API remembers an API key's team for ``api.key_cache_seconds``: a key deleted from Redis keeps working until
then, and no longer; a new key works at once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.state import AppState, KeyCache
from rewriter.service.store import Store
from rewriter.settings import ApiSettings, Settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _client(settings: Settings, clock: Clock, ttl: float) -> Iterator[TestClient]:
    settings = settings.model_copy(update={"api": ApiSettings(key_cache_seconds=ttl)})
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        state = client.app_state["app_state"]
        assert isinstance(state, AppState)
        state.keys.clock = clock
        yield client


@pytest.fixture
def client(settings: Settings, clock: Clock) -> Iterator[TestClient]:
    yield from _client(settings, clock, ttl=5.0)


def _delete_all_keys(store: Store) -> None:
    for name in store.redis.scan_iter("rw:apikey:*"):
        store.redis.delete(name)


def _files(client: TestClient, key: str) -> int:
    return client.get("/v1/files", headers={"Authorization": f"Bearer {key}"}).status_code


def test_a_deleted_key_works_until_its_ttl_then_not(client: TestClient, store: Store, clock: Clock) -> None:
    key = store.create_key("acme")
    assert _files(client, key) == 200
    _delete_all_keys(store)
    clock.now += 4.9
    assert _files(client, key) == 200  # remembered
    clock.now += 0.1
    assert _files(client, key) == 401  # looked up again: gone


def test_a_new_key_works_at_once_after_a_refused_one(client: TestClient, store: Store) -> None:
    assert _files(client, "sk-rw-not-a-key") == 401
    key = store.create_key("acme")
    assert _files(client, key) == 200


def test_a_zero_ttl_looks_every_key_up(settings: Settings, store: Store, clock: Clock) -> None:
    for client in _client(settings, clock, ttl=0):
        key = store.create_key("acme")
        assert _files(client, key) == 200
        _delete_all_keys(store)
        assert _files(client, key) == 401


def test_the_cache_holds_at_most_its_size(clock: Clock) -> None:
    cache = KeyCache(ttl=5.0, size=2, clock=clock)
    for i in range(3):
        cache.put(f"sk-{i}", f"team_{i}")
    assert [cache.get(f"sk-{i}") for i in range(3)] == [None, "team_1", "team_2"]
