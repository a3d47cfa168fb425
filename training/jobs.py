"""A fine-tuning job's child process: ``python -m training.jobs <job_id>`` (the workers name it, never import it).

Runs ``rewriter.runs.fine_tune.run`` with this package's trainers (``training.methods.train``): see there.
"""

from functools import partial

from rewriter.jobs.fine_tune import FineTuneJobSpec
from rewriter.runs.context import entry
from rewriter.runs.fine_tune import run
from training.methods import train

if __name__ == "__main__":
    entry(partial(run, train=train), FineTuneJobSpec)
