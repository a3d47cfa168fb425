"""The team workflow through the API and a real worker on a model shaped like a real one: a Qwen2-family model with a
BPE tokenizer and ChatML (tests/real_models.py), offered as a base model by path (``REWRITER_BASE_MODELS``).

upload multi-turn ``messages`` rows → rewrite job → fine-tuning job (chat conditioning) on its output → eval run.
The model is primed in-process to end its answers with ``#### N`` (tests/training/test_real_shapes.py), so some
rows are rewritten and the others fall back.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TEST_WORKER, Api, start_worker, stop_worker, worker_environment
from tests.real_models import build
from tests.training.test_real_shapes import conversation_records, priming_rows, sft

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
]  # three jobs, each a child loading torch: ~40 s quiet


@pytest.fixture
def qwen2_api(redis_server: str, tmp_path: Path) -> Iterator[Api]:
    import torch

    torch.set_num_threads(1)
    primed = tmp_path / "primed"
    sft(priming_rows(), build("qwen2", tmp_path / "random"), primed, steps=40, lr=1e-2, batch_size=16)
    from rewriter.settings import Settings

    settings = Settings(
        redis_url=f"{redis_server}/9",
        data_dir=tmp_path / "data",
        worker=TEST_WORKER.model_copy(update={"shard_rows": 4}),
        base_models={"qwen2-tiny": primed},
    )
    env = worker_environment(settings.redis_url, settings.data_dir)
    env["REWRITER_BASE_MODELS"] = json.dumps({"qwen2-tiny": str(primed)})
    env["REWRITER_WORKER__SHARD_ROWS"] = "4"
    worker = start_worker(env, tmp_path)
    api = Api(settings, f"shapes-{uuid.uuid4().hex[:6]}")
    try:
        yield api
    finally:
        api.close()
        stop_worker(worker)


def test_upload_rewrite_finetune_eval_on_a_chatml_model(qwen2_api: Api) -> None:
    api = qwen2_api
    source = conversation_records()
    data = b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in source)
    file = api.upload(data)
    rewrite = api.create(
        "/v1/rewrite_jobs",
        {
            "input_file_id": file["id"],
            "model": "qwen2-tiny",
            "verifier": "regex",
            "verifier_options": {"pattern": "(####)"},
            "sampling": {"k": 2, "max_new_tokens": 16},
        },
    )
    done = api.wait(f"/v1/rewrite_jobs/{rewrite['id']}", {"completed", "failed", "cancelled"}, 120)
    assert done["status"] == "completed", done["error"]
    content = api.client.get(f"/v1/files/{done['output_file_id']}/content").content
    output = [json.loads(line) for line in content.splitlines()]
    assert [r["id"] for r in output] == [r["id"] for r in source]
    provenance = {r["meta"]["provenance"] for r in output}
    assert provenance & {"self", "guided"} and "expert_fallback" in provenance
    for before, after in zip(source, output, strict=True):
        assert after["messages"][:-1] == before["messages"][:-1]  # the system prompt and earlier turns
        rewritten = after["meta"]["provenance"] != "expert_fallback"
        assert (after["messages"][-1]["content"] != before["messages"][-1]["content"]) == rewritten
        assert after["meta"]["nll"]["chosen"]["chat"] > 0

    job = api.create(
        "/v1/fine_tuning/jobs",
        {
            "model": "qwen2-tiny",
            "training_file": done["output_file_id"],
            "method": {
                "type": "supervised",
                "supervised": {"conditioning": "chat", "hyperparameters": {"steps": 2, "batch_size": 4}},
            },
        },
    )
    assert job["method"]["supervised"]["conditioning"] == "chat"
    tuned = api.wait(f"/v1/fine_tuning/jobs/{job['id']}", {"succeeded", "failed", "cancelled"}, 120)
    assert tuned["status"] == "succeeded", tuned["error"]
    model = api.get(f"/v1/models/{tuned['fine_tuned_model']}")
    assert model["parent"] == "qwen2-tiny" and model["kind"] == "model"

    run = api.create(
        "/v1/eval_runs", {"model": tuned["fine_tuned_model"], "base": "qwen2-tiny", "suites": ["add"], "n": 4}
    )
    evaluated = api.wait(f"/v1/eval_runs/{run['id']}", {"succeeded", "failed", "cancelled"}, 120)
    assert evaluated["status"] == "succeeded", evaluated["error"]
    assert evaluated["results"]["add"]["n"] == 4
