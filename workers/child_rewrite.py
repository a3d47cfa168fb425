"""A rewrite job's child process: ``python -m workers.child_rewrite <job_id>`` (started by the supervisor).

Runs ``rewriter.runs.rewrite.run``: see there.
"""

from rewriter.jobs.rewrite import RewriteJobSpec
from rewriter.runs.context import entry
from rewriter.runs.rewrite import run

if __name__ == "__main__":
    entry(run, RewriteJobSpec)
