"""The service's overhead and upload path, measured (DESIGN §5). Prints a table.

    .venv/bin/python bench/service.py                       # 2,000-row guided_resolve rewrite + a 1 GB upload
    .venv/bin/python bench/service.py --strategy identity --upload-mb 256
    .venv/bin/python bench/service.py --load                # GET latency, idle and with a rewrite running

1. Rewrite: the same N toy downstream rows, spec and shard size (a) through the service — upload, create the job,
   poll until completed, as a client sees it; the job runs in a real Celery worker's child process, which pays its
   own process start, torch import and model load — and (b) in this process: ``load_engine`` + ``pipeline.run``.
   ``guided_resolve`` is the default: it is the representative strategy (generation-bound, like real use);
   ``identity`` (scoring only) is the worst case for the fixed per-job costs. Target: service ≤ 1.10× in-process.
2. Upload: a generated JSONL file of ``--upload-mb`` MB streamed to the API over HTTP (the API validates every line
   while it writes to artifacts). Throughput in MB/s and the API process's peak RSS growth (VmHWM after − VmRSS
   before). Targets: ≥ 100 MB/s, < 100 MB.

3. Load (``--load``, instead of 1 and 2): 2,000 GETs (a rewrite job, the job list, the file list, the job's events,
   the model list, in turn) offered open-loop at 200 req/s (``bench/load.py``), first against an idle service, then
   while a rewrite job runs. p50/p90/p99/max latency, achieved rate, errors, and the API processes' CPU time per
   request (from /proc: less sensitive to the machine's load than the latencies), per phase. Target: p99 ≤ 20 ms
   idle.
   ``--api-workers`` sets the API's uvicorn workers (default: ``REWRITER_API__WORKERS`` or the CPU count).

4. Workers (``--workers 1,2``, instead of 1-3): the same ``--rows`` job (2,000 by default) through the service with
   1, then 2 worker slots (``celery -c N``; one torch thread per process), the job's shards shared between them
   (``REWRITER_WORKER__SHARD_HELPERS = N - 1``); prints each wall time and the ratio to the first (target ≥ 1.8×
   for 2 on 2 cores). Then the resume on another host: a job stopped half-way (its whole service killed) is taken
   over by a second service with a fresh data dir and the same Redis and artifact store; prints the time from the
   second service's start to the job's completion, and how many shards it still had to compute.

The service (API, worker, beat, a private redis-server) is started here and stopped at the end. The figures depend
on the machine's load: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.load import run_phase  # noqa: E402
from cli.service import LocalService  # noqa: E402
from rewriter.client import Client, RewriteJob  # noqa: E402
from rewriter.service.store import Store  # noqa: E402
from rewriter.settings import ApiSettings, Settings  # noqa: E402

MB = 1 << 20


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def proc_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds (user + system) used so far by ``root`` and its descendants (uvicorn's workers are children of
    its master), from /proc: what a request costs the API, whatever else the machine is doing."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        parents[int(entry.name)] = int(fields[1])  # field 4, ppid (fields counted after the command's ")")
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick  # fields 14, 15: utime, stime
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(times.get(pid, 0.0) for pid in tree)


def write_rows(path: Path, rows: int) -> None:
    from rewriter.suites import get_suite

    with path.open("w") as fh:
        for i, ex in enumerate(get_suite("downstream").examples("train", rows, seed=0)):
            fh.write(
                json.dumps({"id": f"d{i}", "question": ex.question, "answer": ex.expert, "gold": ex.gold})
                + "\n"
            )


def write_big(path: Path, size_mb: int, short: bool, ids: bool) -> int:
    """Whole JSONL rows, about ``size_mb`` MB: toy downstream rows (~210 bytes, a question and a prose answer) or,
    with ``short``, 100-byte rows (per-line costs dominate); with ``ids`` every row gets a unique ``id``."""
    from rewriter.suites import get_suite

    if short:
        rows = [{"question": "what is 123 plus 456?", "answer": "123 plus 456 gives 579. The result is 579."}]
    else:
        examples = get_suite("downstream").examples("train", 500, seed=0)
        rows = [{"question": e.question, "answer": e.expert, "gold": e.gold} for e in examples]
    lines = [json.dumps(row).encode() + b"\n" for row in rows]
    block = b"".join(lines) * max(1, MB // sum(map(len, lines)))
    count = 0
    with path.open("wb") as fh:
        while fh.tell() < size_mb * MB:
            if not ids:
                fh.write(block)
                continue
            batch = []
            for line in lines:
                batch.append(b'{"id": "r%d", ' % count + line[1:])
                count += 1
            fh.write(b"".join(batch))
    return path.stat().st_size


def bench_rewrite(
    client: Client, data: Path, body: dict[str, object], poll: float
) -> tuple[float, RewriteJob]:
    started = time.perf_counter()
    file = client.upload_file(data)
    job = client.create_rewrite_job(file.id, **body)
    done = client.wait_for(job, poll)
    return time.perf_counter() - started, done


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bench_in_process(data: Path, out: Path, body: dict[str, object]) -> tuple[float, float, float]:
    """(load_engine + pipeline.run seconds, pipeline.run seconds, CPU seconds of both) in this process."""
    from rewriter import pipeline
    from rewriter.engines import load_engine
    from rewriter.specs import StrategySpec

    sampling = body.get("sampling") or {}
    assert isinstance(sampling, dict)
    spec = StrategySpec(strategy=body["strategy"], verifier=body["verifier"], seed=body["seed"], **sampling)
    started, cpu = time.perf_counter(), cpu_seconds()
    engine = load_engine("toy")
    loaded = time.perf_counter()
    pipeline.run(data, out, spec, engine, model="toy")
    end = time.perf_counter()
    return end - started, end - loaded, cpu_seconds() - cpu


def bench_load(
    client: Client, base_url: str, key: str, work: Path, count: int, rate: float, api_pid: int
) -> list[str]:
    """The idle phase, then the busy phase (a guided_resolve rewrite running); a report line for each, with the API
    processes' CPU time per request."""
    data = work / "rows.jsonl"
    write_rows(data, 16)
    file = client.upload_file(data)
    done = client.wait_for(
        client.create_rewrite_job(file.id, strategy="identity", verifier="toy-number"), 0.2
    )
    assert done.status == "completed", done.error

    def paths(job_id: str) -> list[str]:
        job = f"/rewrite_jobs/{job_id}"
        return [job, "/rewrite_jobs", "/files", f"{job}/events", "/models"]

    lines = []
    print(f"idle: {count} GETs at {rate:.0f} req/s (load average {load()})...", flush=True)
    cpu = tree_cpu_seconds(api_pid)
    idle = run_phase("idle", base_url, key, paths(done.id), count=count, rate=rate)
    cpu = tree_cpu_seconds(api_pid) - cpu
    lines.append(
        f"{idle.row()}; API CPU {cpu / idle.count * 1000:.2f} ms/request; load average after {load()}"
    )
    print("  " + lines[-1], flush=True)

    big = work / "big-rows.jsonl"
    write_rows(big, 2000)
    body: dict[str, object] = {"strategy": "guided_resolve", "verifier": "toy-number", "seed": 0}
    running = client.create_rewrite_job(client.upload_file(big).id, **body, sampling={"max_new_tokens": 96})
    deadline = time.monotonic() + 120
    while (running := client.refresh(running)).status != "in_progress":
        assert running.status == "queued" and time.monotonic() < deadline, running.status
        time.sleep(0.5)
    time.sleep(5)  # the child imports torch and loads the model, then rewrites rows
    print(f"busy ({running.id} running): {count} GETs at {rate:.0f} req/s...", flush=True)
    cpu = tree_cpu_seconds(api_pid)
    busy = run_phase("busy", base_url, key, paths(running.id), count=count, rate=rate)
    cpu = tree_cpu_seconds(api_pid) - cpu
    after = client.refresh(running)
    lines.append(
        f"{busy.row()}; API CPU {cpu / busy.count * 1000:.2f} ms/request; "
        f"the job was {after.status} at the end; load average after {load()}"
    )
    print("  " + lines[-1], flush=True)
    client.cancel(after)
    return lines


def start_redis(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    from cli.service import free_port, redis_answers

    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen([*command, "--dir", str(work)], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not redis_answers(url):
        assert time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.05)
    return proc, url


def bench_workers(
    counts: list[int], rows: int, body: dict[str, object], work: Path, poll: float
) -> list[tuple[str, str, str]]:
    """The same job with each worker count, then the resume on another host; table rows."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"  # one torch thread per process
    os.environ["REWRITER_WORKER__STALE_AFTER_SECONDS"] = "4"  # the resume: a lost job is noticed within ~6 s
    data = work / "rows.jsonl"
    write_rows(data, rows)
    table: list[tuple[str, str, str]] = []
    first: float | None = None
    for n in counts:
        os.environ["REWRITER_WORKER__SHARD_HELPERS"] = str(n - 1)
        settings = Settings(data_dir=work / f"data-{n}")
        print(f"rewrite {rows} rows with {n} worker(s) (load average {load()})...", flush=True)
        with LocalService(settings, private_redis=True, concurrency=n, log_dir=work / f"logs-{n}") as service:
            key = Store.from_url(service.redis_url).create_key("bench")
            with Client(service.base_url, key, timeout=600) as client:
                seconds, job = bench_rewrite(client, data, body, poll)
        assert job.status == "completed", job.error
        first = first or seconds
        table.append(
            (f"rewrite {rows} rows, {n} worker(s)", f"{seconds:.1f} s", f"{first / seconds:.2f}× the first")
        )
        print("  " + " | ".join(table[-1]), flush=True)

    # Resume on another host: service A (data dir A) runs the job half-way and dies; service B (a fresh data dir
    # B) shares only Redis and the artifact store (a folder here; an s3:// URL in deploy).
    redis_proc, redis_url = start_redis(work)
    os.environ["REWRITER_STORAGE_URL"] = str(work / "shared-store")
    os.environ["REWRITER_WORKER__SHARD_HELPERS"] = "0"
    try:
        a = LocalService(Settings(data_dir=work / "host-a", redis_url=redis_url), log_dir=work / "logs-a")
        with a:
            key = Store.from_url(redis_url).create_key("bench")
            with Client(a.base_url, key, timeout=600) as client:
                job = client.create_rewrite_job(client.upload_file(data).id, **body)
                while (job := client.refresh(job)).progress.get("shards_done", 0) < max(
                    1, (job.progress.get("shards_total") or 2) // 2
                ):
                    assert job.status in {"queued", "in_progress"}, job.status
                    time.sleep(poll)
                print(
                    f"host A stops after {job.progress['shards_done']}/{job.progress['shards_total']} shards",
                    flush=True,
                )
                done_before = job.progress["shards_done"]
        started = time.perf_counter()
        b = LocalService(Settings(data_dir=work / "host-b", redis_url=redis_url), log_dir=work / "logs-b")
        with b, Client(b.base_url, key, timeout=600) as client:
            done = client.wait_for(job, poll)
        seconds = time.perf_counter() - started
        assert done.status == "completed", done.error
        total = done.progress["shards_total"]
        table.append(
            (
                "resume on another host",
                f"{seconds:.1f} s",
                f"fresh data dir, shared Redis + store; {total - done_before} of {total} shards left "
                f"(includes ~6 s until the lost job is noticed, the service start and the model load)",
            )
        )
        print("  " + " | ".join(table[-1]), flush=True)
    finally:
        redis_proc.terminate()
        redis_proc.wait()
        for name in ("REWRITER_STORAGE_URL", "REWRITER_WORKER__SHARD_HELPERS"):
            os.environ.pop(name, None)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--strategy", default="guided_resolve", choices=["identity", "guided_resolve"])
    parser.add_argument("--upload-mb", type=int, default=1024)
    parser.add_argument("--short-rows", action="store_true", help="upload 100-byte rows (worst case)")
    parser.add_argument("--with-ids", action="store_true", help="give every uploaded row a unique id")
    parser.add_argument("--poll", type=float, default=0.5, help="client poll interval (s)")
    parser.add_argument("--skip-rewrite", action="store_true")
    parser.add_argument("--skip-upload", action="store_true")
    parser.add_argument("--load", action="store_true", help="measure GET latency under load (only)")
    parser.add_argument("--requests", type=int, default=2000, help="GETs per load phase")
    parser.add_argument("--rate", type=float, default=200.0, help="offered GETs per second")
    parser.add_argument("--api-workers", type=int, default=None, help="the API's uvicorn workers")
    parser.add_argument("--workers", default=None, help="worker counts to compare, e.g. 1,2 (only)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="rewriter-bench-"))
    api = ApiSettings() if args.api_workers is None else ApiSettings(workers=args.api_workers)
    settings = Settings(data_dir=work / "data", api=api)
    rows_table: list[tuple[str, str, str]] = []

    def report(*rows: tuple[str, str, str]) -> None:
        for row in rows:
            print("  " + " | ".join(row), flush=True)
        rows_table.extend(rows)

    body: dict[str, object] = {"strategy": args.strategy, "verifier": "toy-number", "seed": 0}
    if args.strategy == "guided_resolve":
        body["sampling"] = {"max_new_tokens": 96}
    print(f"load average at start: {load()} (2 cores shared with other work)", flush=True)
    if args.workers:
        try:
            counts = [int(n) for n in args.workers.split(",")]
            rows_table.extend(bench_workers(counts, args.rows, body, work, args.poll))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print_table(rows_table)
        return
    try:
        with LocalService(settings, private_redis=True, log_dir=work / "logs") as service:
            key = Store.from_url(service.redis_url).create_key("bench")
            api_pid = next(proc.pid for name, proc in service.procs if name == "api")
            with Client(service.base_url, key, timeout=600) as client:
                if args.load:
                    print(f"API: {settings.api.workers} uvicorn worker(s)", flush=True)
                    phases = bench_load(
                        client, service.base_url, key, work, args.requests, args.rate, api_pid
                    )
                    for line in phases:
                        rows_table.append((line.split(":")[0], "", line.split(": ", 1)[1]))
                    args.skip_rewrite = args.skip_upload = True
                if not args.skip_rewrite:
                    data = work / "rows.jsonl"
                    write_rows(data, args.rows)
                    # In-process first, then the service: on a shared machine the load drifts, so the order is
                    # printed with the figures (and the CPU seconds, which drift less than wall time).
                    print(f"rewrite {args.rows} rows with {args.strategy} in this process...", flush=True)
                    total_s, run_s, cpu_s = bench_in_process(data, work / "in-process.jsonl", body)
                    print(f"  {total_s:.1f} s; now through the service...", flush=True)
                    service_s, job = bench_rewrite(client, data, body, args.poll)
                    assert job.status == "completed", job.error
                    usage = job.usage or {}
                    child_cpu = float(usage.get("cpu_seconds", float("nan")))
                    report(
                        (
                            f"rewrite {args.rows} rows ({args.strategy}), in-process",
                            f"{total_s:.1f} s",
                            f"load_engine + pipeline.run; run alone {run_s:.1f} s; CPU {cpu_s:.0f} s",
                        ),
                        (
                            "  through the service",
                            f"{service_s:.1f} s",
                            f"upload → completed; job child CPU {child_cpu:.0f} s; rewrite alone {usage.get('rewrite_seconds')} s",
                        ),
                        ("  service / in-process (wall)", f"{service_s / total_s:.3f}×", "target ≤ 1.10×"),
                        (
                            "  service / in-process (CPU)",
                            f"{child_cpu / cpu_s:.3f}×",
                            "job child vs this process",
                        ),
                    )
                if not args.skip_upload:
                    big = work / "big.jsonl"
                    size = write_big(big, args.upload_mb, args.short_rows, args.with_ids)
                    client.list_files()  # warm the API up before the baseline
                    before = proc_kb(api_pid, "VmRSS")
                    print(f"upload {size / MB:.0f} MB...", flush=True)
                    started = time.perf_counter()
                    uploaded = client.upload_file(big)
                    seconds = time.perf_counter() - started
                    growth = (proc_kb(api_pid, "VmHWM") - before) / 1024
                    assert uploaded.bytes == size
                    report(
                        (
                            f"upload {size / MB:.0f} MB ({uploaded.rows} rows of ~{size // uploaded.rows} B)",
                            f"{size / MB / seconds:.0f} MB/s",
                            f"{seconds:.1f} s; target ≥ 100 MB/s",
                        ),
                        ("  API peak RSS growth", f"{growth:.0f} MB", "target < 100 MB"),
                    )
                    big.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(rows_table)


def print_table(rows_table: list[tuple[str, str, str]]) -> None:
    print(f"\nload average at end: {load()}\n")
    width = max(len(r[0]) for r in rows_table) if rows_table else 10
    print(f"| {'measure':{width}s} | value | note |\n|{'-' * (width + 2)}|---|---|")
    for name, value, note in rows_table:
        print(f"| {name:{width}s} | {value} | {note} |")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
