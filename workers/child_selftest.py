"""A child module that only exercises the supervisor: ``python -m workers.child_selftest <job_id>``.

Spec: ``{"seconds": float, "exit_code": int, "events": int, "grandchild": bool}``. It emits ``events`` progress
events spread over ``seconds``, optionally starts a grandchild process in its group (to show cancellation stops
the whole group), then exits with ``exit_code`` (writing a line to stderr when non-zero).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from rewriter.service.store import Store
from rewriter.settings import get_settings


def main(job_id: str) -> int:
    store = Store.from_url(get_settings().redis_url)
    spec = store.get_job(job_id, team=None).spec
    seconds = float(spec.get("seconds", 0.0))
    exit_code = int(spec.get("exit_code", 0))
    steps = max(int(spec.get("events", 0)), 1)
    pids = {"child": os.getpid()}
    if spec.get("grandchild"):
        pids["grandchild"] = subprocess.Popen(["sleep", str(seconds + 30)]).pid
    store.set_progress(job_id, {"step": 0, "steps": steps, **pids})
    for step in range(1, steps + 1):
        time.sleep(seconds / steps)
        if spec.get("events", 0):
            store.add_event(job_id, f"step {step}/{steps}", type="metrics", data={"step": step})
        store.set_progress(job_id, {"step": step, "steps": steps, **pids})
    if exit_code:
        print(f"selftest: failing on purpose with exit code {exit_code}", file=sys.stderr)
    else:
        store.set_result(job_id, {"steps": steps})
    return exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
