"""Job runners: what a job's child process runs (``python -m workers.child_<kind> <job_id>``, or ``training.jobs``).

``context`` holds the :class:`~rewriter.runs.context.JobContext` every runner gets and ``entry``, the ``__main__``
guard of every child module; ``rewrite``, ``evaluate``, ``fine_tune`` and ``selftest`` hold one runner per job kind.
"""
