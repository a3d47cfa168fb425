"""A rewrite job's helper process: ``python -m workers.child_shards <job_id>`` (started by ``run_shards``).

Runs ``rewriter.runs.rewrite.assist``: rewrites the job's free shards for one turn; see there.
"""

from rewriter.jobs.rewrite import RewriteJobSpec
from rewriter.runs.context import entry
from rewriter.runs.rewrite import assist

if __name__ == "__main__":
    entry(assist, RewriteJobSpec)
