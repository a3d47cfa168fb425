"""The shard folder (local and on a real S3 server) and the shard claims in Redis: atomic shard writes, leases that
lapse when their owner dies, one owner per shard."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rewriter.service.store import Store
from rewriter.shards import Parts, shard_name

pytestmark = pytest.mark.integration


@pytest.fixture(params=["local", "s3"])
def parts(request: pytest.FixtureRequest, tmp_path: Path) -> Parts:
    if request.param == "local":
        return Parts.at(tmp_path / "work")
    return Parts.at(request.getfixturevalue("s3_url") + "/work/rwj_1")


def test_a_shard_is_there_whole_or_not_at_all(parts: Parts) -> None:
    assert parts.finished() == [] and parts.names() == []
    parts.write(shard_name(0), ['{"a": 1}', '{"a": 2}'])

    def broken() -> object:
        yield '{"a": 3}'
        raise RuntimeError("the writer died mid-shard")

    with pytest.raises(RuntimeError):
        parts.write(shard_name(1), broken())  # type: ignore[arg-type]
    assert parts.finished() == [0], "an interrupted write leaves no shard"
    assert not parts.exists(shard_name(1))
    assert list(parts.lines(shard_name(0))) == ['{"a": 1}\n', '{"a": 2}\n']
    parts.write(shard_name(1), ['{"a": 3}'])  # the shard is free to be written again, whole
    assert parts.finished() == [0, 1]


def test_a_killed_writer_leaves_only_a_temporary_name(tmp_path: Path) -> None:
    """What a SIGKILL mid-write leaves (a dot-named partial file) is not counted as a shard."""
    parts = Parts.at(tmp_path)
    (tmp_path / f".{shard_name(3)}.0123.part").write_text('{"a": 1}\n{"a"')
    assert parts.finished() == []


def test_claims_give_each_shard_one_owner_and_a_dead_owners_lease_lapses(store: Store) -> None:
    assert store.shards_free("rwj_x") is None
    store.plan_shards("rwj_x", 3)
    assert store.claim_shard("rwj_x", 3, "a:1", 30) == 0
    assert store.claim_shard("rwj_x", 3, "a:1", 30) == 0, "a retried claim gets the same shard"
    assert store.claim_shard("rwj_x", 3, "b:2", 0.3) == 1
    assert store.claim_shard("rwj_x", 3, "c:3", 30) == 2
    assert store.claim_shard("rwj_x", 3, "d:4", 30) is None and store.shards_free("rwj_x") == 0
    store.finish_shard("rwj_x", 0, "a:1")
    assert not store.renew_shard("rwj_x", 1, "a:1", 30), "only the owner renews"
    time.sleep(0.5)  # b:2 died: its lease lapses
    assert store.shards_free("rwj_x") == 1
    assert store.claim_shard("rwj_x", 3, "d:4", 30) == 1
    store.finish_shard("rwj_x", 1, "d:4")
    store.finish_shard("rwj_x", 2, "c:3")
    assert store.claim_shard("rwj_x", 3, "e:5", 30) is None and store.shards_free("rwj_x") == 0
    assert store.shard_owners("rwj_x") == {0: "a:1", 1: "d:4", 2: "c:3"}
