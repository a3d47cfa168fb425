"""The jobs the routes call: create (validate → record → enqueue), get, list, cancel, events, checkpoints — for every
kind. It sits above the store and the model registry; the requests, specs and plans it records come from
``rewriter.jobs``."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewriter.errors import InvalidRequest, NotFound
from rewriter.jobs.eval_run import (
    EvalRunRequest,
    EvalRunSpec,
    check_harness,
    check_names,
    check_suites,
)
from rewriter.jobs.fine_tune import FineTuningJobRequest, training_plan
from rewriter.jobs.kinds import EVENT_PREFIX, queue_for
from rewriter.jobs.rewrite import (
    DATASET_SCHEMAS,
    RewriteJobRequest,
    RewriteJobSpec,
    check_verifier,
    strategy_spec,
)
from rewriter.service.models import Registry
from rewriter.service.store import Event, FileRecord, JobRecord, Order, Page, Store

Enqueue = Callable[[JobRecord], None]


@dataclass
class JobService:
    """Jobs of every kind for the API: each create validates the request against the team's files and models,
    records the job, moves it to ``queued`` and enqueues it (record, then enqueue). Another team's id is NotFound."""

    store: Store
    models: Registry
    enqueue: Enqueue
    default_model: str = "toy"
    engine: str = "hf"
    shard_rows: int = 64
    harness_tasks_dir: Path | None = None  # lm-eval task YAMLs eval runs may name
    max_train_processes: int = 1

    def create_rewrite_job(self, team: str, request: RewriteJobRequest) -> JobRecord:
        spec = strategy_spec(request)
        check_verifier(request.verifier, request.verifier_options)
        self._dataset(team, request.input_file_id, "input_file_id")
        model = self.models.get(team, request.model or self.default_model, param="model")
        if model.kind == "adapter":
            raise InvalidRequest(
                f"{model.id} is a LoRA adapter: rewrite with its base model {model.parent} "
                "(a policy adapter goes in `adapter`).",
                param="model",
            )
        if request.adapter is not None:
            adapter = self.models.get(team, request.adapter, param="adapter")
            if adapter.kind != "adapter" or adapter.parent != model.id:
                raise InvalidRequest(
                    f"adapter {adapter.id} must be a LoRA adapter trained on {model.id}.", param="adapter"
                )
        record = RewriteJobSpec(
            input_file_id=request.input_file_id,
            model=model.id,
            adapter=request.adapter,
            strategy=spec,
            preview=request.preview,
            output_schema=request.output_schema,
            shard_rows=self.shard_rows,
            engine=self.engine,
            metadata=request.metadata,
        )
        return self._submit(team, "rewrite", record.model_dump(mode="json"), queue_for(self.engine))

    def create_fine_tuning_job(self, team: str, request: FineTuningJobRequest) -> JobRecord:
        file = self._dataset(team, request.training_file, "training_file")
        model = self.models.get(team, request.model, param="model")
        if model.kind == "adapter":
            raise InvalidRequest(
                f"{model.id} is a LoRA adapter; fine-tune its base model {model.parent} instead.",
                param="model",
            )
        grpo = request.method.grpo if request.method is not None else None
        if grpo is not None and grpo.warm_start_file is not None:
            if grpo.mode != "rewriter":
                raise InvalidRequest(
                    "warm_start_file is for the rewriting policy (mode 'rewriter').",
                    param="method.grpo.warm_start_file",
                )
            self._dataset(team, grpo.warm_start_file, "method.grpo.warm_start_file")
        if request.validation_file is not None:
            self._dataset(team, request.validation_file, "validation_file")
        supervised = request.method.supervised if request.method is not None else None
        if supervised is not None and supervised.replay_file is not None:
            self._dataset(team, supervised.replay_file, "method.supervised.replay_file")
        plan = training_plan(
            request, file.rows, secrets.randbelow(2**31), max_processes=self.max_train_processes
        )
        plan.model = model.id
        return self._submit(team, "fine_tune", plan.model_dump(mode="json"), queue_for(self.engine))

    def create_eval_run(self, team: str, request: EvalRunRequest) -> JobRecord:
        files, harness = request.files or [], request.harness
        suites = check_suites(request.suites, others=bool(files or harness))
        check_names(suites, files, harness)
        for i, held_out in enumerate(files):
            check_verifier(held_out.verifier, held_out.verifier_options, param=f"files[{i}].verifier")
            self._dataset(team, held_out.file_id, f"files[{i}].file_id")
        if harness is not None:
            if self.harness_tasks_dir is None:
                raise InvalidRequest("this service has no harness task directory.", param="harness")
            check_harness(harness, self.harness_tasks_dir)
            for i, task in enumerate(harness.tasks):
                if task.file_id is not None:
                    self._dataset(team, task.file_id, f"harness.tasks[{i}].file_id")
        model = self.models.get(team, request.model, param="model")
        if request.adapter is not None:
            adapter = self.models.get(team, request.adapter, param="adapter")
            if adapter.kind != "adapter" or adapter.parent != model.id:
                raise InvalidRequest(
                    f"adapter {adapter.id} must be a LoRA adapter trained on {model.id}.", param="adapter"
                )
        if request.base is not None:
            self.models.get(team, request.base, param="base")
        spec = EvalRunSpec(
            model=model.id,
            adapter=request.adapter,
            suites=suites,
            files=files,
            harness=harness,
            n=request.n,
            base=request.base,
            seed=request.seed,
            engine=self.engine,
            metadata=request.metadata,
        )
        return self._submit(team, "eval", spec.model_dump(mode="json"), queue_for(self.engine))

    def get(self, team: str, kind: str, job_id: str) -> JobRecord:
        return of_kind(self.store.get_job(job_id, team=team), kind)

    def list(
        self, team: str, kind: str, *, after: str | None = None, limit: int = 20, order: Order = "desc"
    ) -> Page[JobRecord]:
        return self.store.list_jobs(team, kind, after=after, limit=limit, order=order)

    def cancel(self, team: str, kind: str, job_id: str) -> JobRecord:
        self.get(team, kind, job_id)
        return self.store.request_cancel(job_id, team=team)

    def events(
        self, team: str, kind: str, job_id: str, *, after: str | None = None, limit: int = 20
    ) -> Page[Event]:
        """Events oldest first, after the cursor (an event id as shown, ``ftevent-1700000000000-0``)."""
        self.get(team, kind, job_id)
        return self.store.list_events(job_id, team=team, after=event_cursor(kind, after), limit=limit)

    def checkpoints(
        self, team: str, job_id: str, *, after: str | None = None, limit: int = 10
    ) -> Page[dict[str, Any]]:
        """A fine-tuning job's checkpoints, newest first (the final one is the fine-tuned model)."""
        job = self.get(team, "fine_tune", job_id)
        found: list[dict[str, Any]] = list(reversed((job.result or {}).get("checkpoints", [])))
        if after is not None:
            ids = [c["id"] for c in found]
            if after not in ids:
                raise NotFound(f"after: no such checkpoint: {after}", param="after")
            found = found[ids.index(after) + 1 :]
        return Page(found[:limit], has_more=len(found) > limit)

    def _dataset(self, team: str, file_id: str, param: str) -> FileRecord:
        try:
            file = self.store.get_file(file_id, team=team)
        except NotFound:
            raise NotFound(f"No such File object: {file_id}", param=param) from None
        if file.schema not in DATASET_SCHEMAS:
            raise InvalidRequest(
                f"{file_id} is a {file.purpose} file, not a dataset (qa, prompt_completion or messages).",
                param=param,
            )
        return file

    def _submit(self, team: str, kind: str, spec: dict[str, Any], queue: str) -> JobRecord:
        job = self.store.create_job(team, kind, spec, queue=queue)
        self.store.transition(job.id, [job.lifecycle.initial], job.lifecycle.queued)
        job = self.store.get_job(job.id, team=team)
        self.enqueue(job)
        return job


def of_kind(job: JobRecord, kind: str) -> JobRecord:
    """``job`` if it is a ``kind`` job: an id of another kind is no job of that resource (NotFound)."""
    if job.kind != kind:
        raise NotFound(f"No such job: {job.id}", param="job_id")
    return job


def event_cursor(kind: str, after: str | None) -> str | None:
    """The stream id of an event id as shown for a ``kind`` job (or bare).

    >>> event_cursor("fine_tune", "ftevent-1700000000000-0"), event_cursor("fine_tune", "1700000000000-0")
    ('1700000000000-0', '1700000000000-0')
    """
    return after.removeprefix(f"{EVENT_PREFIX[kind].value}-") if after else None
