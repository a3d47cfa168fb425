"""Where a sharded rewrite keeps its finished shards, and who computes which shard.

:class:`Parts` is a run's shard folder through fsspec: a local folder beside the output (``OUT.parts/``, the CLI) or
``<storage>/work/<job_id>`` in the artifact store (a job: ``s3://bucket/prefix/work/rwj_…`` when the store is an
object store), so that any worker on any host sees the same shards. A shard is written to a temporary name and
moved into place (``write``): a reader sees a shard completely or not at all, and a process killed mid-write
leaves only a dot-named temporary object, which no listing counts. On S3 the move is a server-side copy: the final
key appears with all its bytes in one step.

:class:`Claims` says which shard a process computes next. :class:`InOrder` is the single-process one (every shard
in turn); a job's processes share claims with leases in Redis (``rewriter.service.store.shards``).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

import fsspec

SHARD = re.compile(r"^shard-(\d{5})\.jsonl$")


def shard_name(index: int) -> str:
    """
    >>> shard_name(12), timers_name(12)
    ('shard-00012.jsonl', 'shard-00012.timers.json')
    """
    return f"shard-{index:05d}.jsonl"


def timers_name(index: int) -> str:
    return f"shard-{index:05d}.timers.json"


class Parts:
    """A folder of shard files on any fsspec filesystem; names are plain file names inside it."""

    def __init__(self, fs: Any, root: str) -> None:
        self.fs = fs
        self.root = root.rstrip("/")
        protocol = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
        self.local = "file" in protocol or "local" in protocol

    @classmethod
    def at(cls, url: str | os.PathLike[str]) -> Parts:
        """The folder at a local path or an fsspec URL (``s3://bucket/prefix/work/rwj_1``)."""
        fs, root = fsspec.core.url_to_fs(str(url))
        return cls(fs, root)

    def __repr__(self) -> str:
        return f"Parts({self.root!r})"

    def _path(self, name: str) -> str:
        return f"{self.root}/{name}"

    def names(self) -> list[str]:
        """The names in the folder, as they are now (no cached listing: other processes write here too)."""
        self.fs.invalidate_cache(self.root)
        try:
            listed = self.fs.ls(self.root, detail=False)
        except FileNotFoundError:
            return []
        return sorted(str(p).rstrip("/").rsplit("/", 1)[-1] for p in listed)

    def finished(self) -> list[int]:
        """The indices of the shards written completely, ascending."""
        return [int(m.group(1)) for name in self.names() if (m := SHARD.match(name))]

    def exists(self, name: str) -> bool:
        self.fs.invalidate_cache(self.root)
        return bool(self.fs.exists(self._path(name)))

    def lines(self, name: str) -> Iterator[str]:
        with self.fs.open(self._path(name), "r", encoding="utf-8") as fh:
            yield from (line for line in fh if line.strip())

    def read_json(self, name: str) -> Any:
        with self.fs.open(self._path(name), "r", encoding="utf-8") as fh:
            return json.load(fh)

    def write(self, name: str, lines: Iterable[str]) -> None:
        """Write ``name`` atomically: to a temporary name first, then moved into place."""
        temporary = self._path(f".{name}.{uuid.uuid4().hex}.part")
        if self.local:
            self.fs.makedirs(self.root, exist_ok=True)
            with open(temporary, "w", encoding="utf-8") as fh:
                for line in lines:
                    fh.write(line + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(temporary, self._path(name))
            return
        try:
            with self.fs.open(temporary, "wb") as fh:
                for line in lines:
                    fh.write((line + "\n").encode("utf-8"))
            self.fs.mv(temporary, self._path(name))
        except BaseException:
            if self.fs.exists(temporary):
                self.fs.rm(temporary)
            raise


class Claims(Protocol):
    """Which shard this process computes next: ``claim`` hands out an index no other process holds (None when
    none is free now), ``finish`` says the shard is written. Shards held by others are not free."""

    def claim(self) -> int | None: ...

    def finish(self, index: int) -> None: ...


class InOrder:
    """One process does every shard, in order.

    >>> claims = InOrder(3)
    >>> claims.claim(), claims.claim(), claims.claim(), claims.claim()
    (0, 1, 2, None)
    """

    def __init__(self, total: int) -> None:
        self._next = iter(range(total))

    def claim(self) -> int | None:
        return next(self._next, None)

    def finish(self, index: int) -> None:
        pass
