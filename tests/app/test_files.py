"""/v1/files through a real HTTP client against the app, with a real Redis and local artifacts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from cli.keys import create_key
from rewriter.service.artifacts import Artifacts
from rewriter.service.store import Store
from rewriter.settings import ApiSettings, Settings

pytestmark = pytest.mark.integration


def jsonl(rows: list[dict[str, object]]) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


QA = jsonl([{"question": f"what is {i} + {i}?", "answer": str(2 * i)} for i in range(50)])


def assert_envelope(response: Any, status: int, param: str | None = None) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["message"]
    assert body["error"]["type"] == ("server_error" if status >= 500 else "invalid_request_error")
    if param is not None:
        assert body["error"]["param"] == param
    return dict(body["error"])


@pytest.fixture
def client(settings: Settings, store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        test_client.headers["Authorization"] = f"Bearer {create_key('acme', settings)}"
        yield test_client


def upload(
    client: TestClient, content: bytes, purpose: str = "rewrite", filename: str = "train.jsonl"
) -> Any:
    return client.post(
        "/v1/files", files={"file": (filename, content, "application/jsonl")}, data={"purpose": purpose}
    )


def test_upload_list_get_download_delete(client: TestClient, artifacts: Artifacts) -> None:
    created = upload(client, QA)
    assert created.status_code == 200, created.text
    file = created.json()
    assert file["id"].startswith("file-") and file["object"] == "file" and file["status"] == "processed"
    assert file["bytes"] == len(QA) and file["filename"] == "train.jsonl" and file["purpose"] == "rewrite"
    assert file["schema"] == "qa" and file["rows"] == 50 and file["sha256"] == hashlib.sha256(QA).hexdigest()
    assert isinstance(file["created_at"], int)

    assert client.get(f"/v1/files/{file['id']}").json() == file
    listed = client.get("/v1/files").json()
    assert listed == {
        "object": "list",
        "data": [file],
        "has_more": False,
        "first_id": file["id"],
        "last_id": file["id"],
    }

    content = client.get(f"/v1/files/{file['id']}/content")
    assert content.status_code == 200 and content.content == QA
    assert content.headers["content-length"] == str(len(QA))
    assert "train.jsonl" in content.headers["content-disposition"]

    deleted = client.delete(f"/v1/files/{file['id']}")
    assert deleted.json() == {"id": file["id"], "object": "file", "deleted": True}
    assert_envelope(client.get(f"/v1/files/{file['id']}"), 404, "file_id")
    assert client.get("/v1/files").json()["data"] == []
    assert not artifacts.fs.find(f"{artifacts.root}/files"), "the artifact is gone too"


def test_list_pages_with_after_and_limit(client: TestClient) -> None:
    ids = [upload(client, QA, filename=f"f{i}.jsonl").json()["id"] for i in range(5)]
    first = client.get("/v1/files", params={"limit": 2}).json()
    assert [f["id"] for f in first["data"]] == ids[::-1][:2] and first["has_more"]
    assert first["first_id"] == ids[4] and first["last_id"] == ids[3]
    rest = client.get("/v1/files", params={"limit": 10, "after": first["last_id"]}).json()
    assert [f["id"] for f in rest["data"]] == ids[::-1][2:] and not rest["has_more"]
    assert_envelope(client.get("/v1/files", params={"limit": 0}), 400, "limit")
    # an id the list does not hold is an unknown resource, as the spec says (404 is in every route's responses)
    assert_envelope(client.get("/v1/files", params={"after": "file-unknown"}), 404, "after")


def test_another_teams_file_answers_404(client: TestClient, store: Store) -> None:
    file_id = upload(client, QA).json()["id"]
    other = {"Authorization": f"Bearer {store.create_key('globex')}"}
    for method, path in [("GET", ""), ("GET", "/content"), ("DELETE", "")]:
        error = assert_envelope(client.request(method, f"/v1/files/{file_id}{path}", headers=other), 404)
        assert file_id in str(error["message"])
    assert client.get("/v1/files", headers=other).json()["data"] == []
    assert client.get(f"/v1/files/{file_id}").status_code == 200, "the owner still sees it"


def test_auth_is_required(client: TestClient) -> None:
    missing = client.get("/v1/files", headers={"Authorization": ""})
    assert assert_envelope(missing, 401)["code"] == "missing_api_key"
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = client.get("/v1/files", headers={"Authorization": "Bearer sk-rw-nope"})
    assert assert_envelope(wrong, 401)["code"] == "invalid_api_key"
    assert_envelope(client.get("/v1/files", headers={"Authorization": "Basic abc"}), 401)


def test_malformed_upload_names_the_lines_and_records_nothing(
    client: TestClient, artifacts: Artifacts
) -> None:
    bad = QA + b'{"question": "x"}\n' + b"not json at all\n" + jsonl([{"question": "y", "answer": ""}])
    error = assert_envelope(upload(client, bad), 400, "file")
    assert error["code"] == "invalid_file"
    assert "line 51" in str(error["message"]) and "'answer'" in str(error["message"])
    assert "line 52" in str(error["message"]) and "JSON" in str(error["message"])
    assert "line 53" in str(error["message"])
    assert client.get("/v1/files").json()["data"] == []
    assert not artifacts.fs.exists(f"{artifacts.root}/files") or not artifacts.fs.find(
        f"{artifacts.root}/files"
    )
    assert_envelope(upload(client, b""), 400, "file")


def test_purpose_is_checked_and_may_follow_the_file(client: TestClient) -> None:
    assert_envelope(upload(client, QA, purpose="poetry"), 400, "purpose")
    no_purpose = client.post("/v1/files", files={"file": ("a.jsonl", QA)})
    assert_envelope(no_purpose, 400, "purpose")
    assert_envelope(client.post("/v1/files", data={"purpose": "rewrite"}), 400)
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="late.jsonl"\r\n\r\n'.encode()
        + QA
        + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nfine-tune\r\n'.encode()
        + f"--{boundary}--\r\n".encode()
    )
    late = client.post(
        "/v1/files", content=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert late.status_code == 200, late.text
    assert late.json()["purpose"] == "fine-tune" and late.json()["rows"] == 50
    assert client.get(f"/v1/files/{late.json()['id']}/content").content == QA
    not_multipart = client.post("/v1/files", content=QA, headers={"Content-Type": "application/jsonl"})
    assert_envelope(not_multipart, 400)


def test_oversize_upload_answers_413_and_leaves_no_artifact(settings: Settings, store: Store) -> None:
    small = settings.model_copy(update={"api": ApiSettings(max_upload_bytes=1000, max_listed_problems=5)})
    artifacts = Artifacts(small.artifacts_url)
    with TestClient(create_app(small), raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {store.create_key('acme')}"
        declared = upload(client, QA * 100)  # Content-Length alone already tells it is too big
        assert assert_envelope(declared, 413, "file")["code"] == "file_too_large"

        def streamed() -> Iterator[bytes]:  # chunked: no Content-Length, refused while streaming
            yield b'--x\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nrewrite\r\n'
            yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="big.jsonl"\r\n\r\n'
            for _ in range(10):
                yield QA
            yield b"\r\n--x--\r\n"

        chunked = client.post(
            "/v1/files", content=streamed(), headers={"Content-Type": "multipart/form-data; boundary=x"}
        )
        assert_envelope(chunked, 413, "file")
        assert client.get("/v1/files").json()["data"] == []
        assert not artifacts.fs.exists(artifacts.root) or artifacts.fs.find(artifacts.root) == []
        fits = jsonl([{"prompt": "p", "completion": "c"}] * 10)
        assert upload(client, fits).status_code == 200


def test_unknown_routes_and_bad_methods_answer_the_envelope(client: TestClient) -> None:
    error = assert_envelope(client.get("/v1/nothing-here"), 404)
    assert "/v1/nothing-here" in str(error["message"])
    assert_envelope(client.put("/v1/files"), 405)


def test_an_unexpected_error_answers_500_with_the_envelope(settings: Settings) -> None:
    app = create_app(settings)

    def broken() -> None:
        raise RuntimeError("secret internals")

    app.add_api_route("/v1/broken", broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        error = assert_envelope(client.get("/v1/broken"), 500)
        assert "secret" not in str(error["message"]), "internals stay in the log"
        assert 'route="/v1/broken",status="500"' in client.get("/metrics").text


def test_health_readiness_and_metrics(client: TestClient, settings: Settings, store: Store) -> None:
    from celery import Celery

    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    upload(client, QA)
    client.get("/v1/files/file-missing")
    store.create_job("team-x", "rewrite", {}, status="queued")
    store.create_job("team-y", "rewrite", {}, status="queued", queue="gpu")
    running = store.create_job("team-y", "fine_tune", {}, status="queued")
    store.claim(running.id)
    Celery(broker=settings.redis_url).send_task("rewriter.run_job", args=["rwjob-x"], queue="gpu")
    text = client.get("/metrics").text
    assert 'rewriter_http_requests_total{method="POST",route="/v1/files",status="200"} 1.0' in text
    assert 'rewriter_http_requests_total{method="GET",route="/v1/files/{file_id}",status="404"} 1.0' in text
    assert 'rewriter_http_request_duration_seconds_count{method="POST",route="/v1/files"} 1.0' in text
    assert 'rewriter_jobs{kind="rewrite",status="queued"} 2.0' in text
    # Per queue and team: what waits (queued) and what runs.
    assert 'rewriter_queued_jobs{queue="cpu",team="team-x"} 1.0' in text
    assert 'rewriter_queued_jobs{queue="gpu",team="team-y"} 1.0' in text
    assert 'rewriter_running_jobs{queue="cpu",team="team-y"} 1.0' in text
    assert 'rewriter_queued_jobs{queue="cpu",team="team-y"}' not in text
    assert 'rewriter_queue_depth{queue="gpu"} 1.0' in text and 'rewriter_queue_depth{queue="cpu"} 0.0' in text
    assert "rewriter_redis_up 1.0" in text


def test_readyz_answers_503_when_redis_is_down(settings: Settings) -> None:
    from tests.conftest import free_port

    down = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    with TestClient(create_app(down), raise_server_exceptions=False) as client:
        error = assert_envelope(client.get("/readyz"), 503)
        assert "redis" in str(error["message"])
        assert_envelope(client.get("/v1/files", headers={"Authorization": "Bearer sk-rw-x"}), 503)
        assert "rewriter_redis_up 0.0" in client.get("/metrics").text


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (QA + b'{"question": "x", "answer": "y"\n', ["line 51", "JSON"]),
        (QA[:40] + b"\n" + QA, ["line 1"]),
        (jsonl([{"question": "q"}]), ["line 1", "'answer'"]),
        (jsonl([{"question": "q", "answer": "a"}, {"question": 3, "answer": "a"}]), ["line 2", "'question'"]),
        (jsonl([{"prompt": "p", "completion": ["c"]}]), ["line 1", "'completion'"]),
        (jsonl([{"messages": "hello"}]), ["line 1", "'messages'"]),
        (jsonl([{"question": "q", "answer": "a"}, {"prompt": "p", "completion": "c"}]), ["line 2"]),
        (QA + b'{"question": "caf\xe9", "answer": "x"}\n', ["line 51", "UTF-8"]),
        (b"\n\n", ["empty"]),
        (b"", ["empty"]),
        (b"[1, 2]\n", ["line 1", "object"]),
    ],
    ids=[
        "bad-json-line-51",
        "truncated-line-1",
        "missing-field",
        "wrong-type",
        "list-completion",
        "messages-not-a-list",
        "mixed-schemas",
        "non-utf8",
        "blank-lines",
        "empty",
        "not-an-object",
    ],
)
def test_a_malformed_upload_answers_400_naming_the_problem(
    client: TestClient, content: bytes, named: list[str]
) -> None:
    error = assert_envelope(upload(client, content), 400, "file")
    for words in named:
        assert words in str(error["message"]), (words, error["message"])
    assert client.get("/v1/files").json()["data"] == []
