"""The spec and the API agree (issue 12): schemathesis runs against a real uvicorn serving the app, every operation,
bounded, in two passes — random ids, then real ones (a file, a rewrite job, a fine-tuning job, an eval run) — with
all of its checks: no 5xx, every response as documented, no schema-valid request refused, no schema-invalid one
accepted, and undeclared methods answered 405 with ``Allow``.

The counts (requests, failures per check) are printed (``pytest -s``) and attached as the test's properties.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rewriter.service.store import Store
from rewriter.settings import Settings
from tests.conftest import jsonl_bytes, start_api_server, worker_environment
from tests.factories import qa_record

pytestmark = pytest.mark.integration

EXAMPLES = 25  # per operation and generation mode (positive, negative)


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    env = worker_environment(settings.redis_url, settings.data_dir)
    proc, base = start_api_server(env, settings.data_dir)
    try:
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def real_ids(base: str, key: str) -> dict[str, str]:
    """A file, a rewrite job, a fine-tuning job and an eval run of the team, made through the API."""
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:

        def created(path: str, **kwargs: Any) -> str:
            response = client.post(path, **kwargs)
            assert response.status_code == 200, response.text
            return str(response.json()["id"])

        rows = jsonl_bytes([qa_record(i) for i in range(3)])
        file_id = created("/v1/files", files={"file": ("d.jsonl", rows)}, data={"purpose": "rewrite"})
        tune_file = created("/v1/files", files={"file": ("t.jsonl", rows)}, data={"purpose": "fine-tune"})
        rewrite = created("/v1/rewrite_jobs", json={"input_file_id": file_id, "model": "toy"})
        tune = created("/v1/fine_tuning/jobs", json={"model": "toy", "training_file": tune_file})
        run = created("/v1/eval_runs", json={"model": "toy", "suites": ["add"], "n": 1})
    return {"file": file_id, "rewrite": rewrite, "fine_tune": tune, "eval": run}


# An upload's bytes are checked line by line (JSONL, a known schema): no JSON schema says which bytes are a
# dataset, so a schema-valid upload of random bytes is rightly refused with 400.
UPLOAD = """[[operations]]
include-path = "/v1/files"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "404", "409"]
"""


def config(ids: dict[str, str] | None) -> str:
    """schemathesis.toml: the upload's refusals, and the real ids as the path parameters of each resource's
    operations."""
    if ids is None:
        return UPLOAD
    blocks = [
        ("^/v1/files/", "file_id", ids["file"]),
        ("^/v1/rewrite_jobs/", "job_id", ids["rewrite"]),
        ("^/v1/fine_tuning/jobs/", "job_id", ids["fine_tune"]),
        ("^/v1/eval_runs/", "run_id", ids["eval"]),
        ("^/v1/models/", "model_id", "toy"),
    ]
    return UPLOAD + "\n".join(
        f'[[operations]]\ninclude-path-regex = "{regex}"\nparameters = {{ "path.{name}" = "{value}" }}\n'
        for regex, name, value in blocks
    )


def run_schemathesis(base: str, key: str, workdir: Path, ids: dict[str, str] | None) -> dict[str, Any]:
    """One bounded ``schemathesis run`` (all phases, all checks); its JSON report plus the exit code and output."""
    (workdir / "schemathesis.toml").write_text(config(ids))
    report = workdir / "report.json"
    command = [sys.executable, "-m", "schemathesis.cli", "run", f"{base}/openapi.json"]
    command += ["--checks", "all", "--max-examples", str(EXAMPLES), "--seed", "12", "--workers", "1"]
    command += ["--header", f"Authorization: Bearer {key}", "--no-shrink", "--continue-on-failure"]
    command += ["--report", "json", "--report-json-path", str(report), "--request-timeout", "30"]
    command += ["--exclude-path-regex", "^/(ui|metrics|healthz|readyz)"]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=1800)
    return {
        "returncode": result.returncode,
        "output": result.stdout + result.stderr,
        **json.loads(report.read_text()),
    }


def test_schemathesis_finds_no_disagreement(
    server: str, settings: Settings, tmp_path: Path, record_property: Any
) -> None:
    key = Store.from_url(settings.redis_url).create_key("schemathesis")
    results = []
    for name, ids in (("random ids", None), ("real ids", real_ids(server, key))):
        workdir = tmp_path / name.replace(" ", "-")
        workdir.mkdir()
        result = run_schemathesis(server, key, workdir, ids)
        cases, failures = result["test_cases"], result["failures"]
        found = {f"{failure['title']} ({failure['code']})": failure["operations"] for failure in failures}
        line = (
            f"schemathesis ({name}): {result['operations']['tested']} operations, {cases['generated']} test cases, "
            f"{cases['with_failures']} with failures, {cases['errored']} errored; failures: {found or 'none'}"
        )
        print(line)
        record_property(f"schemathesis {name}", line)
        results.append((name, result))
    for name, result in results:
        assert result["returncode"] == 0, f"schemathesis ({name}) failed:\n{result['output'][-6000:]}"
