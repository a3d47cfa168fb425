"""Trained models and adapters: ``rw:model:{id}`` hashes, listed by ``rw:team:{team}:models`` (base models are not
stored)."""

from __future__ import annotations

import time
from typing import cast

from rewriter.errors import Conflict, NotFound
from rewriter.service.store.base import StoreBase
from rewriter.service.store.codec import model_from_hash
from rewriter.service.store.records import ModelRecord


class Models(StoreBase):
    def add_model(self, record: ModelRecord) -> ModelRecord:
        """Record a trained model; idempotent for its job: a rerun of the same job gets the record made first."""
        key = f"rw:model:{record.id}"
        # An id alone is a record half made (a retry after a lost reply, a crash between the two steps): finish it.
        if not self.redis.hsetnx(key, "id", record.id) and self.redis.hlen(key) > 1:
            existing = self.get_model(record.id, team=None)
            if existing.job_id != record.job_id:
                raise Conflict(f"model id {record.id} is taken by job {existing.job_id}")
            return existing
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, mapping={k: str(v) for k, v in record.__dict__.items()})
        pipe.zadd(f"rw:team:{record.team}:models", {record.id: time.time()})
        pipe.execute()
        return record

    def get_model(self, model_id: str, *, team: str | None) -> ModelRecord:
        return model_found(cast(dict[str, str], self.redis.hgetall(f"rw:model:{model_id}")), model_id, team)

    def list_models(self, team: str) -> list[ModelRecord]:
        """The team's trained models, oldest first."""
        ids = cast(list[str], self.redis.zrange(f"rw:team:{team}:models", 0, -1))
        pipe = self.redis.pipeline(transaction=False)
        for model_id in ids:
            pipe.hgetall(f"rw:model:{model_id}")
        return [model_from_hash(raw) for raw in pipe.execute() if len(raw) > 1]


def model_found(raw: dict[str, str], model_id: str, team: str | None) -> ModelRecord:
    """The model of the hash ``raw`` read for ``model_id`` if it is whole (not just the id a retry may leave) and
    ``team``'s (any team's when None)."""
    if len(raw) < 2 or (team is not None and raw.get("team") != team):
        raise NotFound(f"The model '{model_id}' does not exist", param="model", code="model_not_found")
    return model_from_hash(raw)
