"""``entry``: the guard every job's child runs under, through real child processes and a real Redis.

An expected failure exits 2 with ``<Type>: <reason>`` as the last line of stderr (which the supervisor makes the
job's error); a bug exits 1 with its traceback; otherwise the runner's own code is the exit code.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rewriter.jobs.eval_run import EvalRunSpec
from rewriter.service.store import Store
from rewriter.settings import Settings
from tests.conftest import REPO
from workers.supervisor import supervise

pytestmark = pytest.mark.integration

# A child whose runner is given on the command line: python -c CHILD <job_id> <behaviour>
CHILD = """
import sys
from rewriter.runs.context import entry
from rewriter.runs.selftest import SelftestSpec

def run(ctx):
    ctx.event("started")
    how = sys.argv[2]
    if how == "invalid":
        raise ValueError("the spec cannot run")
    if how == "bug":
        raise RuntimeError("a bug")
    return int(how)

entry(run, SelftestSpec)
"""


def child(job_id: str, how: str, settings: Settings) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "REWRITER_REDIS_URL": settings.redis_url,
        "REWRITER_DATA_DIR": str(settings.data_dir),
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-c", CHILD, job_id, how], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("how", "code", "last_line"),
    [
        ("0", 0, None),
        ("3", 3, None),
        ("invalid", 2, "ValueError: the spec cannot run"),
        ("bug", 1, "RuntimeError: a bug"),
    ],
)
def test_entry_exits_with_the_runners_code_or_the_failures(
    store: Store, settings: Settings, how: str, code: int, last_line: str | None
) -> None:
    job = store.create_job("team-a", "selftest", {}, status="queued")
    done = child(job.id, how, settings)
    assert done.returncode == code, done.stderr
    if last_line is not None:
        assert done.stderr.strip().splitlines()[-1] == last_line
    if how == "bug":
        assert "Traceback" in done.stderr, "a bug keeps its traceback"
    if how == "invalid":
        assert "Traceback" not in done.stderr, "an expected failure is its reason alone"
    assert [e.message for e in store.list_events(job.id, team=None).data] == ["started"]


def test_a_job_that_does_not_exist_exits_2(settings: Settings) -> None:
    done = child("selftest-missing", "0", settings)
    assert done.returncode == 2
    assert done.stderr.strip() == "NotFound: No such job: selftest-missing"


def test_a_spec_that_does_not_validate_exits_2(store: Store, settings: Settings) -> None:
    job = store.create_job("team-a", "selftest", {"seconds": "soon"}, status="queued")
    done = child(job.id, "0", settings)
    assert done.returncode == 2 and done.stderr.startswith(
        "ValidationError: 1 validation error for SelftestSpec"
    )


def test_an_expected_failure_becomes_the_jobs_error(store: Store, child_env: Settings) -> None:
    """Through the supervisor: an eval run of a model that does not exist fails with the reason alone."""
    spec = EvalRunSpec(model="no-such-model", suites=["downstream"], n=2)
    job = store.create_job("team-a", "eval", spec.model_dump(mode="json"), status="queued")
    attempt = store.claim(job.id)
    assert attempt is not None
    status = supervise(store, job.id, "workers.child_eval", attempt=attempt, heartbeat_seconds=0.1)
    failed = store.get_job(job.id, team=None)
    assert status == failed.status == "failed" and failed.result is None
    assert failed.error == {
        "code": "job_failed",
        "message": "NotFound: The model 'no-such-model' does not exist",
        "param": None,
    }
