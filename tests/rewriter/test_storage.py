"""Artifacts through fsspec: atomic writes, reads, sizes, deletes — on a local folder and on another fsspec URL."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from rewriter.storage import Storage


@pytest.fixture(params=["local", "memory"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return Storage(str(tmp_path / "artifacts"))
    return Storage(f"memory://rewriter-test-{uuid.uuid4().hex}")


def test_write_read_size_delete(storage: Storage) -> None:
    with storage.open_write("files/team-a/file-1.jsonl") as out:
        out.write(b"a" * 3_000_000)
    assert storage.exists("files/team-a/file-1.jsonl")
    assert storage.size("files/team-a/file-1.jsonl") == 3_000_000
    chunks = list(storage.iter_chunks("files/team-a/file-1.jsonl"))
    assert [len(c) for c in chunks] == [1 << 20, 1 << 20, 3_000_000 - 2 * (1 << 20)]
    with storage.open_read("files/team-a/file-1.jsonl") as handle:
        assert handle.read(3) == b"aaa"
    assert storage.delete("files/team-a/file-1.jsonl")
    assert not storage.exists("files/team-a/file-1.jsonl")
    assert not storage.delete("files/team-a/file-1.jsonl")


def test_write_is_atomic_and_a_failed_write_leaves_nothing(storage: Storage) -> None:
    with storage.open_write("out/report.json") as out:
        out.write(b"old")
    with pytest.raises(RuntimeError), storage.open_write("out/report.json") as out:
        out.write(b"new but partial")
        assert storage.open_read("out/report.json").__enter__().read() == b"old", "readers see the old bytes"
        raise RuntimeError("writer died")
    with storage.open_read("out/report.json") as handle:
        assert handle.read() == b"old"
    with pytest.raises(RuntimeError), storage.open_write("out/never.json") as out:
        out.write(b"partial")
        raise RuntimeError("writer died")
    assert not storage.exists("out/never.json")
    leftovers = [p for p in storage.fs.find(storage.root) if ".part" in p]
    assert leftovers == [], "temporary names are cleaned up"


def test_paths_stay_under_the_root(storage: Storage) -> None:
    for bad in ["../escape", "a/../../escape", "", "."]:
        with pytest.raises(ValueError):
            storage.exists(bad)


def test_check_probes_a_write(storage: Storage, tmp_path: Path) -> None:
    from rewriter.errors import Unavailable

    storage.check()
    assert [p for p in storage.fs.find(storage.root) if ".probe" in p] == []
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the root folder should be")
    with pytest.raises(Unavailable):
        Storage(str(blocked)).check()
