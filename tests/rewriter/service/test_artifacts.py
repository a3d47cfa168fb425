"""Artifacts through fsspec: atomic writes, reads, sizes, deletes — on a local folder and on another fsspec URL."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from rewriter.service.artifacts import Artifacts


@pytest.fixture(params=["local", "memory"])
def artifacts(request: pytest.FixtureRequest, tmp_path: Path) -> Artifacts:
    if request.param == "local":
        return Artifacts(str(tmp_path / "artifacts"))
    return Artifacts(f"memory://rewriter-test-{uuid.uuid4().hex}")


def test_write_read_size_delete(artifacts: Artifacts) -> None:
    with artifacts.open_write("files/team-a/file-1.jsonl") as out:
        out.write(b"a" * 3_000_000)
    assert artifacts.exists("files/team-a/file-1.jsonl")
    assert artifacts.size("files/team-a/file-1.jsonl") == 3_000_000
    chunks = list(artifacts.iter_chunks("files/team-a/file-1.jsonl"))
    assert [len(c) for c in chunks] == [1 << 20, 1 << 20, 3_000_000 - 2 * (1 << 20)]
    with artifacts.open_read("files/team-a/file-1.jsonl") as handle:
        assert handle.read(3) == b"aaa"
    assert artifacts.delete("files/team-a/file-1.jsonl")
    assert not artifacts.exists("files/team-a/file-1.jsonl")
    assert not artifacts.delete("files/team-a/file-1.jsonl")


def test_write_is_atomic_and_a_failed_write_leaves_nothing(artifacts: Artifacts) -> None:
    with artifacts.open_write("out/report.json") as out:
        out.write(b"old")
    with pytest.raises(RuntimeError), artifacts.open_write("out/report.json") as out:
        out.write(b"new but partial")
        assert artifacts.open_read("out/report.json").__enter__().read() == b"old", (
            "readers see the old bytes"
        )
        raise RuntimeError("writer died")
    with artifacts.open_read("out/report.json") as handle:
        assert handle.read() == b"old"
    with pytest.raises(RuntimeError), artifacts.open_write("out/never.json") as out:
        out.write(b"partial")
        raise RuntimeError("writer died")
    assert not artifacts.exists("out/never.json")
    leftovers = [p for p in artifacts.fs.find(artifacts.root) if ".part" in p]
    assert leftovers == [], "temporary names are cleaned up"


def test_paths_stay_under_the_root(artifacts: Artifacts) -> None:
    for bad in ["../escape", "a/../../escape", "", "."]:
        with pytest.raises(ValueError):
            artifacts.exists(bad)


def test_check_probes_a_write(artifacts: Artifacts, tmp_path: Path) -> None:
    from rewriter.errors import Unavailable

    artifacts.check()
    assert [p for p in artifacts.fs.find(artifacts.root) if ".probe" in p] == []
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the root folder should be")
    with pytest.raises(Unavailable):
        Artifacts(str(blocked)).check()
