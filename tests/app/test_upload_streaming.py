"""Uploads stream: a real uvicorn server takes a large upload without its memory growing with the file size."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from rewriter.service.store import Store
from rewriter.settings import Settings
from tests.conftest import REPO, free_port, wait_for

pytestmark = pytest.mark.integration

MB = 1 << 20


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


@pytest.fixture
def serve(settings: Settings, store: Store, tmp_path: Path) -> Iterator[Callable[..., tuple[str, int, str]]]:
    """Start ``uvicorn --factory app.main:create_app`` in a child process on a free port: (base URL, server pid,
    API key)."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(**env_overrides: str) -> tuple[str, int, str]:
        port = free_port()
        env = dict(
            os.environ, REWRITER_REDIS_URL=settings.redis_url, REWRITER_DATA_DIR=str(settings.data_dir)
        )
        env.update(env_overrides)
        log = tmp_path / f"uvicorn-{port}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--factory",
                    "app.main:create_app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                env=env,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        procs.append(proc)
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            assert proc.poll() is None, log.read_text()
            try:
                return httpx.get(f"{base}/healthz").status_code == 200
            except httpx.TransportError:
                return False

        wait_for(up, 20, "uvicorn to answer /healthz", interval=0.1)
        return base, proc.pid, store.create_key("acme")

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def json_block() -> bytes:
    """Whole JSON Lines rows, just under 1 MiB."""
    rows = b"".join(
        json.dumps(
            {"question": f"what is {i} plus {i + 7}?", "answer": f"{i} + {i + 7} = {2 * i + 7}"}
        ).encode()
        + b"\n"
        for i in range(20_000)
    )
    return rows[: rows.rindex(b"\n", 0, MB) + 1]


def multipart_body(size_mb: int, boundary: str) -> Iterator[bytes]:
    """A multipart upload of ``size_mb`` blocks of JSON Lines, generated on the fly (never held whole)."""
    block = json_block()
    yield f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nrewrite\r\n'.encode()
    yield f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jsonl"\r\n\r\n'.encode()
    for _ in range(size_mb):
        yield block
    yield f"\r\n--{boundary}--\r\n".encode()


@pytest.mark.parametrize("size_mb", [64, pytest.param(1024, marks=pytest.mark.slow)])
def test_large_upload_streams_with_flat_memory(
    serve: Callable[..., tuple[str, int, str]], size_mb: int
) -> None:
    base, pid, key = serve()
    headers = {"Authorization": f"Bearer {key}"}
    block = json_block()
    expected = hashlib.sha256()
    expected_bytes = 0
    for _ in range(size_mb):
        expected.update(block)
        expected_bytes += len(block)

    with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
        client.get("/v1/files")  # warm up the route before taking the baseline
        baseline = peak_rss_mb(pid)
        started = time.perf_counter()
        response = client.post(
            "/v1/files",
            content=multipart_body(size_mb, "streamboundary"),
            headers={"Content-Type": "multipart/form-data; boundary=streamboundary"},
        )
        seconds = time.perf_counter() - started
        assert response.status_code == 200, response.text
        file = response.json()
        growth = peak_rss_mb(pid) - baseline

        downloaded = hashlib.sha256()
        with client.stream("GET", f"/v1/files/{file['id']}/content") as content:
            for chunk in content.iter_bytes():
                downloaded.update(chunk)
        download_growth = peak_rss_mb(pid) - baseline

    print(
        f"\nupload {expected_bytes / MB:.0f} MiB: {expected_bytes / MB / seconds:.1f} MiB/s, "
        f"server peak RSS +{growth:.1f} MiB (download: +{download_growth:.1f} MiB)"
    )
    assert file["bytes"] == expected_bytes and file["sha256"] == expected.hexdigest()
    assert file["rows"] == size_mb * block.count(b"\n")
    assert downloaded.hexdigest() == expected.hexdigest()
    # Holding the upload whole would add at least its size; streaming keeps to a few pieces and buffers.
    assert growth < 40, f"server memory grew by {growth:.0f} MiB for a {size_mb} MiB upload"
    assert download_growth < 40


def test_oversize_upload_is_refused_early_over_a_real_connection(
    serve: Callable[..., tuple[str, int, str]],
) -> None:
    base, _, key = serve(REWRITER_API__MAX_UPLOAD_BYTES=str(MB))
    headers = {
        "Authorization": f"Bearer {key}",
        "Content-Type": "multipart/form-data; boundary=streamboundary",
    }
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        for body in (b"".join(multipart_body(4, "streamboundary")), multipart_body(4, "streamboundary")):
            response = client.post("/v1/files", content=body)  # with Content-Length, then chunked
            assert response.status_code == 413, response.text
            assert response.json()["error"]["param"] == "file"
            assert response.json()["error"]["code"] == "file_too_large"
        assert client.get("/v1/files").json()["data"] == []
