"""Job kinds: every lifecycle is consistent, and an unknown kind is refused with the known ones named."""

from __future__ import annotations

import pytest

from rewriter.errors import InvalidRequest
from rewriter.jobs.kinds import EVENT_PREFIX, JOB_KINDS, QUEUES, RunJob, lifecycle, queue_for


@pytest.mark.parametrize("kind", sorted(JOB_KINDS))
def test_each_lifecycle_names_only_its_own_statuses(kind: str) -> None:
    cycle = lifecycle(kind)
    named = {cycle.initial, cycle.queued, cycle.running, cycle.done, cycle.failed, cycle.cancelled}
    assert named | cycle.active <= set(cycle.statuses)
    assert cycle.running in cycle.active and not cycle.active & (cycle.terminal | cycle.pending)
    assert cycle.cancelling is None or cycle.cancelling in cycle.active
    assert kind in EVENT_PREFIX


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="known: .*rewrite") as refused:
        lifecycle("nonsense")
    assert refused.value.param == "kind"


def test_tasks_carry_only_the_job_id() -> None:
    assert RunJob("rwjob-1").args == ["rwjob-1"]
    assert {queue_for("vllm"), queue_for("hf")} == set(QUEUES)
