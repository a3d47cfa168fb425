"""File metadata: ``rw:file:{id}`` hashes, listed by ``rw:team:{team}:files[:{purpose}]`` (the artifact itself
lives in Artifacts)."""

from __future__ import annotations

import time
from typing import cast

from rewriter.errors import NotFound
from rewriter.service.store.base import StoreBase
from rewriter.service.store.codec import encode, file_from_hash
from rewriter.service.store.records import FileRecord, Order, Page


class Files(StoreBase):
    def add_file(self, record: FileRecord) -> None:
        score = time.time()
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(f"rw:file:{record.id}", mapping={k: encode(k, v) for k, v in record.__dict__.items()})
        pipe.zadd(f"rw:team:{record.team}:files", {record.id: score})
        pipe.zadd(f"rw:team:{record.team}:files:{record.purpose}", {record.id: score})
        pipe.execute()

    def get_file(self, file_id: str, *, team: str | None) -> FileRecord:
        """The file, if it exists and (when ``team`` is given) belongs to that team; NotFound otherwise."""
        return file_found(cast(dict[str, str], self.redis.hgetall(f"rw:file:{file_id}")), file_id, team)

    def list_files(
        self,
        team: str,
        *,
        after: str | None = None,
        limit: int = 100,
        order: Order = "desc",
        purpose: str | None = None,
    ) -> Page[FileRecord]:
        index = f"rw:team:{team}:files" + (f":{purpose}" if purpose else "")
        return self._page(index, after, limit, order, "rw:file:", file_from_hash)

    def delete_file(self, file_id: str, *, team: str | None) -> FileRecord:
        """Forget the file's metadata and return it (the caller removes the artifact)."""
        record = self.get_file(file_id, team=team)
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(f"rw:file:{file_id}")
        pipe.zrem(f"rw:team:{record.team}:files", file_id)
        pipe.zrem(f"rw:team:{record.team}:files:{record.purpose}", file_id)
        pipe.execute()
        return record


def file_found(raw: dict[str, str], file_id: str, team: str | None) -> FileRecord:
    """The file of the hash ``raw`` read for ``file_id`` if it exists and is ``team``'s (any team's when None)."""
    if not raw or (team is not None and raw.get("team") != team):
        raise NotFound(f"No such File object: {file_id}", param="file_id")
    return file_from_hash(raw)
