"""A child that only exercises the supervisor: ``python -m workers.child_selftest <job_id>``.

Spec: ``{"seconds": float, "exit_code": int, "events": int, "grandchild": bool}``; runs
``rewriter.runs.selftest.run``: see there.
"""

from rewriter.runs.context import entry
from rewriter.runs.selftest import SelftestSpec, run

if __name__ == "__main__":
    entry(run, SelftestSpec)
