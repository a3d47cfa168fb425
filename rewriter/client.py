"""A typed, synchronous client of the service's HTTP API (httpx): files, rewrite jobs, fine-tuning jobs, eval runs,
models, and ``wait_for(job)``.

    client = Client("http://127.0.0.1:8000/v1", api_key)
    file = client.upload_file("train.jsonl", purpose="rewrite")
    job = client.create_rewrite_job(file.id, strategy="guided_resolve", verifier="toy-number")
    job = client.wait_for(job, poll=2.0)
    client.download_file(job.output_file_id, "rewritten.jsonl")

Errors come back as :class:`APIError` with the envelope's message, param and code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict

from rewriter.errors import RewriterError

DEFAULT_URL = "http://127.0.0.1:8000/v1"


class APIError(RewriterError):
    """The service answered with an error envelope (or not at all: ``status`` 0)."""

    def __init__(
        self, status: int, message: str, *, param: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(f"{status}: {message}" if status else message, param=param, code=code)
        self.status = status


class APIObject(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    object: str


class File(APIObject):
    bytes: int
    created_at: int
    filename: str
    purpose: str
    rows: int = 0


class Job(APIObject):
    created_at: int
    status: str
    error: dict[str, Any] | None = None

    TERMINAL: ClassVar[frozenset[str]] = frozenset({"completed", "succeeded", "failed", "cancelled"})

    @property
    def done(self) -> bool:
        return self.status in self.TERMINAL


class RewriteJob(Job):
    input_file_id: str
    model: str
    strategy: str
    row_counts: dict[str, Any]
    progress: dict[str, Any]
    output_file_id: str | None = None
    error_file_id: str | None = None
    report_file_id: str | None = None
    report_markdown_file_id: str | None = None
    summary: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None


class FineTuningJob(Job):
    model: str
    training_file: str
    validation_file: str | None = None
    fine_tuned_model: str | None = None
    hyperparameters: dict[str, Any] = {}
    progress: dict[str, Any] | None = None
    result_files: list[str] = []


class EvalRun(Job):
    model: str
    suites: list[str]
    files: list[dict[str, Any]] = []
    harness: dict[str, Any] | None = None
    results: dict[str, dict[str, Any]] | None = None
    base_results: dict[str, dict[str, Any]] | None = None
    comparison: dict[str, Any] | None = None


class Event(APIObject):
    created_at: int
    level: str
    message: str
    type: str
    data: dict[str, Any] = {}


class Model(APIObject):
    created: int
    owned_by: str
    kind: str = "base"
    lineage: dict[str, Any] | None = None


J = TypeVar("J", bound=Job)
Obj = TypeVar("Obj", bound=APIObject)
_PATHS: dict[type[Job], str] = {
    RewriteJob: "/rewrite_jobs",
    FineTuningJob: "/fine_tuning/jobs",
    EvalRun: "/eval_runs",
}


class Client:
    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not api_key:
            raise APIError(0, "an API key is needed: set REWRITER_API_KEY or pass --api-key")
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- files ------------------------------------------------------------------------------------------

    def upload_file(self, path: str | Path, purpose: str = "rewrite") -> File:
        """Upload a JSONL dataset; the file is streamed from disk, never read whole."""
        path = Path(path)
        with path.open("rb") as handle:
            files = {"file": (path.name, handle, "application/jsonl")}
            return File.model_validate(self._call("POST", "/files", files=files, data={"purpose": purpose}))

    def list_files(self, purpose: str | None = None) -> list[File]:
        return list(self._pages("/files", File, {"purpose": purpose} if purpose else {}))

    def get_file(self, file_id: str) -> File:
        return File.model_validate(self._call("GET", f"/files/{file_id}"))

    def download_file(self, file_id: str, dest: str | Path) -> Path:
        """Stream the file's content to ``dest`` (written to a temporary name, then moved into place)."""
        dest = Path(dest)
        partial = dest.with_name(f".{dest.name}.part")
        with self.http.stream("GET", f"/files/{file_id}/content") as response:
            if response.status_code >= 400:
                response.read()
                raise _error(response)
            with partial.open("wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
        partial.replace(dest)
        return dest

    def delete_file(self, file_id: str) -> None:
        self._call("DELETE", f"/files/{file_id}")

    # ---- jobs -------------------------------------------------------------------------------------------

    def create_rewrite_job(self, input_file_id: str, **body: Any) -> RewriteJob:
        """``body``: strategy, settings, model, adapter, verifier, verifier_options, sampling, seed, preview."""
        payload = {"input_file_id": input_file_id, **{k: v for k, v in body.items() if v is not None}}
        return RewriteJob.model_validate(self._call("POST", "/rewrite_jobs", json=payload))

    def create_fine_tuning_job(self, model: str, training_file: str, **body: Any) -> FineTuningJob:
        """``body``: method ({"type": "supervised" | "grpo", ...}), validation_file, seed, suffix, metadata."""
        payload = {
            "model": model,
            "training_file": training_file,
            **{k: v for k, v in body.items() if v is not None},
        }
        return FineTuningJob.model_validate(self._call("POST", "/fine_tuning/jobs", json=payload))

    def create_eval_run(self, model: str, **body: Any) -> EvalRun:
        """``body``: suites, files ([{"file_id", "verifier", "role"}]), harness ({"tasks": [{"task"}], "num_fewshot",
        "apply_chat_template"}), n, base, adapter, seed."""
        payload = {"model": model, **{k: v for k, v in body.items() if v is not None}}
        return EvalRun.model_validate(self._call("POST", "/eval_runs", json=payload))

    def get_job(self, kind: type[J], job_id: str) -> J:
        return kind.model_validate(self._call("GET", f"{_PATHS[kind]}/{job_id}"))

    def list_jobs(self, kind: type[J]) -> list[J]:
        return list(self._pages(_PATHS[kind], kind))

    def cancel(self, job: J) -> J:
        return type(job).model_validate(self._call("POST", f"{_PATHS[type(job)]}/{job.id}/cancel"))

    def refresh(self, job: J) -> J:
        return self.get_job(type(job), job.id)

    def events(self, job: Job, after: str | None = None) -> list[Event]:
        """The job's events after ``after`` (oldest first, all pages)."""
        return list(self._pages(f"{_PATHS[type(job)]}/{job.id}/events", Event, {"limit": 1000}, after=after))

    def wait_for(
        self,
        job: J,
        poll: float = 2.0,
        *,
        timeout: float | None = None,
        on_update: Callable[[J], None] | None = None,
    ) -> J:
        """Poll until the job is completed/succeeded, failed or cancelled; ``on_update`` sees every state."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.refresh(job)
            if on_update is not None:
                on_update(job)
            if job.done:
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{job.id} is still {job.status} after {timeout} s")
            time.sleep(poll)

    # ---- models -----------------------------------------------------------------------------------------

    def list_models(self) -> list[Model]:
        return [Model.model_validate(m) for m in self._call("GET", "/models")["data"]]

    def get_model(self, model_id: str) -> Model:
        return Model.model_validate(self._call("GET", f"/models/{model_id}"))

    # ---- plumbing ---------------------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise APIError(0, f"cannot reach {self.http.base_url}: {exc}") from exc
        if response.status_code >= 400:
            raise _error(response)
        body: dict[str, Any] = response.json()
        return body

    def _pages(
        self, path: str, kind: type[Obj], params: dict[str, Any] | None = None, after: str | None = None
    ) -> Iterator[Obj]:
        params = dict(params or {})
        while True:
            page = self._call("GET", path, params={**params, **({"after": after} if after else {})})
            yield from (kind.model_validate(item) for item in page["data"])
            if not page.get("has_more") or not page["data"]:
                return
            after = page["data"][-1]["id"]


def _error(response: httpx.Response) -> APIError:
    try:
        error = response.json()["error"]
        return APIError(
            response.status_code, error["message"], param=error.get("param"), code=error.get("code")
        )
    except (ValueError, KeyError, TypeError):
        return APIError(response.status_code, response.text[:500] or response.reason_phrase)
