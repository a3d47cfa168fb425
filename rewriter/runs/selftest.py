"""A job that only exercises the supervisor: ``python -m workers.child_selftest <job_id>`` runs :func:`run`.

It emits ``events`` progress events spread over ``seconds``, optionally starts a grandchild process in its group
(to show cancellation stops the whole group), writes ``stderr`` to stderr, then exits with ``exit_code`` (writing a
line to stderr when non-zero) — or, with ``signal``, kills itself with that signal (a crash, or the OOM killer).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import ClassVar

from pydantic import BaseModel

from rewriter.results import Stored
from rewriter.runs.context import JobContext


class SelftestSpec(BaseModel):
    seconds: float = 0.0
    exit_code: int = 0
    events: int = 0
    grandchild: bool = False
    stderr: str = ""
    signal: int = 0


class SelftestProgress(Stored):
    omit_when_none: ClassVar[frozenset[str]] = frozenset({"grandchild"})

    step: int
    steps: int
    child: int  # pids, for the tests to watch
    grandchild: int | None = None


class SelftestResult(Stored):
    steps: int


def run(ctx: JobContext[SelftestSpec]) -> int:
    spec = ctx.spec
    steps = max(spec.events, 1)
    grandchild = subprocess.Popen(["sleep", str(spec.seconds + 30)]).pid if spec.grandchild else None
    ctx.progress(SelftestProgress(step=0, steps=steps, child=os.getpid(), grandchild=grandchild))
    for step in range(1, steps + 1):
        time.sleep(spec.seconds / steps)
        if spec.events:
            ctx.event(f"step {step}/{steps}", type="metrics", data={"step": step})
        ctx.progress(SelftestProgress(step=step, steps=steps, child=os.getpid(), grandchild=grandchild))
    if spec.stderr:
        print(spec.stderr, file=sys.stderr, flush=True)
    if spec.signal:
        os.kill(os.getpid(), signal.Signals(spec.signal))
    if spec.exit_code:
        print(f"selftest: failing on purpose with exit code {spec.exit_code}", file=sys.stderr)
    else:
        ctx.result(SelftestResult(steps=steps))
    return spec.exit_code
