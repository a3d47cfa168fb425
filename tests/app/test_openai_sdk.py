"""The official ``openai`` SDK, unchanged, against a real uvicorn server and a real worker: files, fine-tuning jobs
(create with ``method``, retrieve, list, events, checkpoints, cancel) and models."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import openai
import pytest

from rewriter.service.store import Store
from rewriter.settings import Settings
from tests.conftest import WAIT_SCALE, downstream_rows, jsonl_bytes

pytestmark = pytest.mark.integration


@pytest.fixture
def sdk(api_server: tuple[str, Settings]) -> openai.OpenAI:
    base, settings = api_server
    key = Store.from_url(settings.redis_url).create_key(f"sdk-{uuid.uuid4().hex[:6]}")
    return openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0, timeout=30)


def test_files_through_the_sdk(sdk: openai.OpenAI, tmp_path: Path) -> None:
    data = jsonl_bytes(downstream_rows(5))
    path = tmp_path / "train.jsonl"
    path.write_bytes(data)
    with path.open("rb") as fh:
        created = sdk.files.create(file=fh, purpose="fine-tune")
    assert created.id.startswith("file-") and created.object == "file" and created.bytes == len(data)
    assert (
        created.filename == "train.jsonl" and created.purpose == "fine-tune" and created.status == "processed"
    )
    assert sdk.files.retrieve(created.id).id == created.id
    assert [f.id for f in sdk.files.list()] == [created.id]
    assert sdk.files.content(created.id).read() == data
    deleted = sdk.files.delete(created.id)
    assert deleted.id == created.id and deleted.deleted
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.files.retrieve(created.id)
    assert missing.value.status_code == 404 and missing.value.body["param"] == "file_id"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as bad:
        sdk.files.create(file=("bad.jsonl", b'{"question": 1}\n'), purpose="fine-tune")
    assert "line 1" in bad.value.message


def test_fine_tuning_and_models_through_the_sdk(sdk: openai.OpenAI) -> None:
    file = sdk.files.create(file=("train.jsonl", jsonl_bytes(downstream_rows(16))), purpose="fine-tune")
    job = sdk.fine_tuning.jobs.create(
        model="toy",
        training_file=file.id,
        method={
            "type": "supervised",
            "supervised": {"hyperparameters": {"n_epochs": 2, "batch_size": 8}, "loss": "dft", "lora": False},
        },
        seed=3,
        suffix="sdk",
    )
    assert job.id.startswith("ftjob-") and job.object == "fine_tuning.job" and job.model == "toy"
    assert job.status == "queued" and job.training_file == file.id and job.seed == 3
    assert job.hyperparameters.n_epochs == 2 and job.hyperparameters.batch_size == 8
    assert job.method is not None and job.method.type == "supervised"
    # Queued behind it on the one-slot worker, a second job is cancelled at once.
    second = sdk.fine_tuning.jobs.create(model="toy", training_file=file.id)
    assert sdk.fine_tuning.jobs.cancel(second.id).status == "cancelled"

    deadline = time.monotonic() + 90 * WAIT_SCALE
    while (job := sdk.fine_tuning.jobs.retrieve(job.id)).status not in {"succeeded", "failed", "cancelled"}:
        assert time.monotonic() < deadline, f"fine-tuning job still {job.status}"
        time.sleep(0.5)
    assert job.status == "succeeded", job.error
    assert job.fine_tuned_model is not None and job.fine_tuned_model.startswith("ft:toy:sdk-")
    assert job.fine_tuned_model.split(":")[3] == "sdk" and job.finished_at is not None
    assert len(job.result_files) == 1 and job.trained_tokens and job.trained_tokens > 0
    assert {j.id for j in sdk.fine_tuning.jobs.list()} == {job.id, second.id}

    events = list(sdk.fine_tuning.jobs.list_events(job.id, limit=2))  # the SDK follows the `after` cursor
    assert all(e.object == "fine_tuning.job.event" and e.id.startswith("ftevent-") for e in events)
    steps = [e for e in events if e.type == "metrics"]
    assert [e.data["step"] for e in steps] == [1, 2, 3, 4]  # type: ignore[index]
    assert all(e.data["train_loss"] > 0 for e in steps)  # type: ignore[index]
    assert events[-1].message == "The job has successfully completed."
    checkpoints = list(sdk.fine_tuning.jobs.checkpoints.list(job.id))
    assert len(checkpoints) == 1 and checkpoints[0].fine_tuned_model_checkpoint == job.fine_tuned_model
    assert checkpoints[0].step_number == 4 and checkpoints[0].fine_tuning_job_id == job.id

    ids = [m.id for m in sdk.models.list()]
    assert ids[0] == "toy" and job.fine_tuned_model in ids
    model = sdk.models.retrieve(job.fine_tuned_model)
    assert model.object == "model" and model.owned_by == job.organization_id
    lineage = model.model_extra["lineage"]  # type: ignore[index]
    assert lineage == {
        "fine_tuning_job": job.id,
        "training_file": file.id,
        "method": "supervised",
        "parent": "toy",
        "base": "toy",
    }
    with pytest.raises(openai.NotFoundError):
        sdk.models.retrieve("ft:toy:someone-else:abc")
    with pytest.raises(openai.ConflictError):
        sdk.fine_tuning.jobs.cancel(job.id)
