"""An evaluation run's child process: ``python -m workers.child_eval <job_id>`` (started by the supervisor).

Runs ``rewriter.runs.evaluate.run``: see there.
"""

from rewriter.jobs.eval_run import EvalRunSpec
from rewriter.runs.context import entry
from rewriter.runs.evaluate import run

if __name__ == "__main__":
    entry(run, EvalRunSpec)
