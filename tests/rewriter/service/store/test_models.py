"""Trained models in the Redis store (a real redis-server): one record per job, scoped to its team."""

from __future__ import annotations

import pytest

from rewriter.errors import Conflict, NotFound
from rewriter.ids import now
from rewriter.service.store import ModelRecord, Store

pytestmark = pytest.mark.integration


def a_model(team: str, job_id: str, model_id: str = "ft:toy:acme:abcd1234") -> ModelRecord:
    return ModelRecord(
        id=model_id,
        team=team,
        created_at=now(),
        kind="adapter",
        parent="toy",
        base="toy",
        path=f"models/{team}/{job_id}",
        job_id=job_id,
        training_file="file-x",
        method="grpo",
    )


def test_models_are_recorded_once_per_job_and_scoped_to_their_team(store: Store) -> None:
    record = a_model("team-a", "ftjob-1")
    assert store.add_model(record) == record
    later = a_model("team-a", "ftjob-1")
    assert store.add_model(later) == record, "a rerun of the job gets the first record"
    with pytest.raises(Conflict):
        store.add_model(a_model("team-a", "ftjob-2"))  # the same id from another job
    assert store.get_model(record.id, team="team-a") == record
    with pytest.raises(NotFound) as missing:
        store.get_model(record.id, team="team-b")
    assert missing.value.code == "model_not_found"
    second = a_model("team-a", "ftjob-3", "ft:toy:acme:efgh5678")
    store.add_model(second)
    assert [m.id for m in store.list_models("team-a")] == [record.id, second.id]
    assert store.list_models("team-b") == []
