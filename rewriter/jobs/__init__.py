"""Jobs, below the store: what each kind of job is and how it is asked for.

- ``kinds``: the job kinds, their lifecycles (statuses), id prefixes and the Celery task names that run them.
- ``rewrite``, ``fine_tune``, ``eval_run``: per kind, the request a user sends, the typed spec the job is recorded
  with (ids and settings, never rows) and the validation and planning between the two.

Nothing here imports the service layer: ``rewriter.service.store`` imports the lifecycles from ``kinds``, and
``rewriter.service.job_service.JobService`` (what the routes call) sits above both.
"""
