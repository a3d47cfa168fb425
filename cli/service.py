"""Service commands: ``rewriter files|jobs|evals|models ...`` talk to a running service over HTTP
(``rewriter.client``); ``rewriter keys create`` makes an API key; ``rewriter serve`` runs the whole service here.

The base URL and key come from ``--api-url`` / ``--api-key`` or ``REWRITER_API_URL`` / ``REWRITER_API_KEY``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from rewriter.client import DEFAULT_URL, APIError, Client, EvalRun, FineTuningJob, Job, RewriteJob
from rewriter.settings import Settings

ApiUrl = Annotated[str, typer.Option("--api-url", envvar="REWRITER_API_URL", help="the service's /v1 URL")]
ApiKey = Annotated[str | None, typer.Option("--api-key", envvar="REWRITER_API_KEY", help="an API key")]
Wait = Annotated[bool, typer.Option("--wait", help="follow the job until it ends")]

files_app = typer.Typer(no_args_is_help=True, help="Your team's files on the service.")
jobs_app = typer.Typer(no_args_is_help=True, help="Rewrite and fine-tuning jobs on the service.")
rewrite_app = typer.Typer(no_args_is_help=True, help="Rewrite jobs.")
finetune_app = typer.Typer(no_args_is_help=True, help="Fine-tuning jobs.")
evals_app = typer.Typer(no_args_is_help=True, help="Evaluation runs on the service.")
models_app = typer.Typer(no_args_is_help=True, help="Base and trained models.")
keys_app = typer.Typer(no_args_is_help=True, help="API keys (talks to Redis directly).")
serve_app = typer.Typer(help="Run the service on this machine.")
jobs_app.add_typer(rewrite_app, name="rewrite")
jobs_app.add_typer(finetune_app, name="finetune")


@contextmanager
def api(url: str, key: str | None) -> Iterator[Client]:
    """A client; an error answer becomes one line on stderr and exit code 2."""
    try:
        with Client(url, key) as client:
            yield client
    except APIError as exc:
        typer.echo(f"error: {exc.message}" + (f" (param: {exc.param})" if exc.param else ""), err=True)
        raise typer.Exit(2) from None


def show(obj: Any) -> None:
    typer.echo(json.dumps(obj.model_dump() if hasattr(obj, "model_dump") else obj, indent=2))


# ---- files ------------------------------------------------------------------------------------------------


@files_app.command("upload")
def files_upload(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL dataset")],
    purpose: Annotated[str, typer.Option(help="rewrite | fine-tune | eval")] = "rewrite",
    api_url: ApiUrl = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    """Upload a dataset; prints the file object (its id is what jobs take)."""
    with api(api_url, api_key) as client:
        show(client.upload_file(path, purpose))


@files_app.command("list")
def files_list(
    purpose: Annotated[str | None, typer.Option(help="only files of this purpose")] = None,
    api_url: ApiUrl = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    with api(api_url, api_key) as client:
        for file in client.list_files(purpose):
            typer.echo(
                f"{file.id}  {file.purpose:18s} {file.rows:8d} rows {file.bytes:12d} B  {file.filename}"
            )


@files_app.command("download")
def files_download(
    file_id: str,
    output: Annotated[Path, typer.Option("-o", "--output", help="where to write it")],
    api_url: ApiUrl = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    with api(api_url, api_key) as client:
        typer.echo(client.download_file(file_id, output))


# ---- jobs -------------------------------------------------------------------------------------------------


def follow(client: Client, job: Job, poll: float) -> Job:
    """Wait for a job with a progress bar (rows for rewrites, steps for fine-tunes)."""
    from tqdm import tqdm

    with tqdm(total=None, unit="row" if isinstance(job, RewriteJob) else "step", desc=job.id) as bar:

        def update(current: Job) -> None:
            if isinstance(current, RewriteJob):
                bar.total = current.row_counts.get("total") or bar.total
                bar.n = current.row_counts.get("completed", 0)
            elif isinstance(current, FineTuningJob) and current.progress:
                bar.total, bar.n = current.progress.get("steps"), current.progress.get("step", 0)
            bar.set_postfix_str(current.status)

        done = client.wait_for(job, poll, on_update=update)
    if done.error:
        typer.echo(f"{done.id} {done.status}: {done.error.get('message')}", err=True)
    return done


@rewrite_app.command("create")
def rewrite_create(
    input_file_id: str,
    strategy: Annotated[
        str, typer.Option(help="identity | self_distill | guided_resolve | policy")
    ] = "guided_resolve",
    verifier: Annotated[
        str, typer.Option(help="math | numeric | exact | choice | regex | toy-number | ...")
    ] = "math",
    model: Annotated[str | None, typer.Option(help="backbone model id (default: the service's)")] = None,
    adapter: Annotated[str | None, typer.Option(help="policy: a trained adapter's model id")] = None,
    k: Annotated[int | None, typer.Option("-k", help="candidates per row (per stage)")] = None,
    temperature: Annotated[float | None, typer.Option(help="first-stage temperature")] = None,
    max_new_tokens: Annotated[int | None, typer.Option(help="per candidate")] = None,
    fallback: Annotated[str | None, typer.Option(help="expert | drop")] = None,
    selection: Annotated[str | None, typer.Option(help="first | min_nll | reward")] = None,
    seed: Annotated[int, typer.Option(help="sampling seed")] = 0,
    preview: Annotated[int | None, typer.Option(help="only the first N rows")] = None,
    wait: Wait = False,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="with --wait: download the output")
    ] = None,
    poll: Annotated[float, typer.Option(help="seconds between polls")] = 2.0,
    api_url: ApiUrl = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    """Rewrite a file: prints the job, or with --wait follows it with a progress bar and prints the result."""
    settings = {k: v for k, v in {"fallback": fallback, "selection": selection}.items() if v is not None}
    sampling = {
        k: v
        for k, v in {"k": k, "temperature": temperature, "max_new_tokens": max_new_tokens}.items()
        if v is not None
    }
    with api(api_url, api_key) as client:
        job = client.create_rewrite_job(
            input_file_id,
            strategy=strategy,
            verifier=verifier,
            model=model,
            adapter=adapter,
            settings=settings,
            sampling=sampling,
            seed=seed,
            preview=preview,
        )
        if not wait:
            show(job)
            return
        done = follow(client, job, poll)
        assert isinstance(done, RewriteJob)
        show({k: getattr(done, k) for k in ("id", "status", "row_counts", "summary", "output_file_id")})
        if output is not None and done.output_file_id:
            typer.echo(f"output: {client.download_file(done.output_file_id, output)}")
        if done.status != "completed":
            raise typer.Exit(1)


@rewrite_app.command("get")
def rewrite_get(job_id: str, api_url: ApiUrl = DEFAULT_URL, api_key: ApiKey = None) -> None:
    with api(api_url, api_key) as client:
        show(client.get_job(RewriteJob, job_id))


@rewrite_app.command("cancel")
def rewrite_cancel(job_id: str, api_url: ApiUrl = DEFAULT_URL, api_key: ApiKey = None) -> None:
    """Stop a rewrite: it finishes its current shard and keeps the rows rewritten so far."""
    with api(api_url, api_key) as client:
        show(client.cancel(client.get_job(RewriteJob, job_id)))


@finetune_app.command("create")
def finetune_create(
    training_file: str,
    model: Annotated[str, typer.Option(help="the model to fine-tune")] = "toy",
    method: Annotated[str, typer.Option(help="supervised | grpo")] = "supervised",
    steps: Annotated[int | None, typer.Option(help="optimizer steps")] = None,
    epochs: Annotated[int | None, typer.Option(help="passes over the file (instead of --steps)")] = None,
    batch_size: Annotated[int | None, typer.Option(help="rows per step")] = None,
    lr: Annotated[float | None, typer.Option(help="learning rate")] = None,
    loss: Annotated[str, typer.Option(help="supervised: nll | dft | is")] = "nll",
    lora: Annotated[bool, typer.Option(help="supervised: train a LoRA adapter")] = False,
    mode: Annotated[str, typer.Option(help="grpo: rewriter | task")] = "rewriter",
    grpo_verifier: Annotated[str, typer.Option(help="grpo: the gate")] = "toy-number",
    warm_start_file: Annotated[
        str | None,
        typer.Option(help="grpo rewriter: a rewrite job's output file of TRAINING_FILE to SFT on first"),
    ] = None,
    suffix: Annotated[str | None, typer.Option(help="goes into the model id")] = None,
    seed: Annotated[int | None, typer.Option(help="training seed")] = None,
    wait: Wait = False,
    poll: Annotated[float, typer.Option(help="seconds between polls")] = 2.0,
    api_url: ApiUrl = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    """Fine-tune a model on a file (supervised) or train a GRPO adapter; prints the job (or follows it)."""
    hyper = {"steps": steps, "n_epochs": epochs, "batch_size": batch_size, "learning_rate": lr}
    hyper = {k: v for k, v in hyper.items() if v is not None}
    body: dict[str, Any] = (
        {"type": "supervised", "supervised": {"hyperparameters": hyper, "loss": loss, "lora": lora}}
        if method == "supervised"
        else {"type": method, method: {"hyperparameters": hyper, "mode": mode, "verifier": grpo_verifier}}
    )
    if warm_start_file is not None:
        body.setdefault(method, {})["warm_start_file"] = warm_start_file  # the API refuses it for supervised
    with api(api_url, api_key) as client:
        job = client.create_fine_tuning_job(model, training_file, method=body, suffix=suffix, seed=seed)
        if not wait:
            show(job)
            return
        done = follow(client, job, poll)
        assert isinstance(done, FineTuningJob)
        show({k: getattr(done, k) for k in ("id", "status", "fine_tuned_model", "trained_tokens")})
        if done.status != "succeeded":
            raise typer.Exit(1)


@finetune_app.command("get")
def finetune_get(job_id: str, api_url: ApiUrl = DEFAULT_URL, api_key: ApiKey = None) -> None:
    with api(api_url, api_key) as client:
        show(client.get_job(FineTuningJob, job_id))


@finetune_app.command("cancel")
def finetune_cancel(job_id: str, api_url: ApiUrl = DEFAULT_URL, api_key: ApiKey = None) -> None:
    with api(api_url, api_key) as client:
        show(client.cancel(client.get_job(FineTuningJob, job_id)))


@evals_app.command("create")
def evals_create(
    model: Annotated[str, typer.Option(help="the model to evaluate")] = "toy",
    adapter: Annotated[str | None, typer.Option(help="an adapter model id on top")] = None,
    suites: Annotated[str | None, typer.Option(help="comma-separated suites (default: all)")] = None,
    n: Annotated[int, typer.Option("-n", help="test problems per suite")] = 200,
    base: Annotated[str | None, typer.Option(help="compare with this model: gain and forgetting")] = None,
    wait: Wait = False,
    poll: Annotated[float, typer.Option(help="seconds between polls")] = 2.0,
    api_url: ApiUrl = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    """Accuracy per suite (and gain / forgetting against --base)."""
    names = suites.split(",") if suites else None
    with api(api_url, api_key) as client:
        run = client.create_eval_run(model, adapter=adapter, suites=names, n=n, base=base)
        if not wait:
            show(run)
            return
        done = client.wait_for(run, poll)
        assert isinstance(done, EvalRun)
        print_eval(done)
        if done.status != "succeeded":
            raise typer.Exit(1)


def print_eval(run: EvalRun, echo: Callable[[str], Any] = typer.echo) -> None:
    if run.error:
        echo(f"{run.id} {run.status}: {run.error.get('message')}")
    for name, result in (run.results or {}).items():
        echo(f"  {name:18s} {result['accuracy']:6.3f}  (n={result['n']})")
    if run.comparison:
        c = run.comparison
        echo(
            f"  gain {c['gain']:+.1f} pts   forgetting {c['forgetting_abs']:.1f} pts ({c['forgetting_rel']:.0%})"
        )


@evals_app.command("get")
def evals_get(run_id: str, api_url: ApiUrl = DEFAULT_URL, api_key: ApiKey = None) -> None:
    with api(api_url, api_key) as client:
        show(client.get_job(EvalRun, run_id))


@models_app.command("list")
def models_list(api_url: ApiUrl = DEFAULT_URL, api_key: ApiKey = None) -> None:
    with api(api_url, api_key) as client:
        for model in client.list_models():
            lineage = model.lineage or {}
            origin = f"  from {lineage['parent']} by {lineage['fine_tuning_job']}" if lineage else ""
            typer.echo(f"{model.id:40s} {model.kind:8s}{origin}")


# ---- keys -------------------------------------------------------------------------------------------------


@keys_app.command("create")
def keys_create(team: Annotated[str, typer.Option(help="team name (created on first use)")]) -> None:
    """Create an API key for a team and print it (only its hash is stored: keep it)."""
    from cli.keys import create_key

    typer.echo(create_key(team))


# ---- serve ------------------------------------------------------------------------------------------------


def redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalService:
    """The service as child processes of this one: the API (uvicorn), a Celery worker, Celery beat, and a private
    ``redis-server`` (no persistence) when none answers at the configured URL — or always, with
    ``private_redis``. A context manager: leaving it stops everything it started, in reverse order.

    With ``log_dir`` each process logs to a file there and :meth:`start` waits until the API answers and the worker
    is ready; without, they share this terminal.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        concurrency: int = 1,
        private_redis: bool = False,
        log_dir: Path | None = None,
    ) -> None:
        self.settings = settings
        self.host = host
        self.port = port or free_port()
        self.concurrency = concurrency
        self.private_redis = private_redis
        self.log_dir = log_dir
        self.redis_url = settings.redis_url
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._logs: list[IO[bytes]] = []

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> LocalService:
        env = dict(os.environ, REWRITER_DATA_DIR=str(self.settings.data_dir.resolve()))
        if self.private_redis or not redis_answers(self.redis_url):
            port = free_port()
            workdir = tempfile.mkdtemp(prefix="rewriter-redis-")
            # No persistence: this Redis lives and dies with the command.
            redis_server = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
            redis_server += ["--appendonly", "no", "--loglevel", "warning", "--dir", workdir]
            self._spawn("redis", redis_server, env)
            self.redis_url = f"redis://127.0.0.1:{port}/0"
            _wait(lambda: redis_answers(self.redis_url), 10, "redis-server")
        env["REWRITER_REDIS_URL"] = self.redis_url
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        python = [sys.executable, "-m"]
        api = [
            *python,
            "uvicorn",
            "--factory",
            "app.main:create_app",
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]
        self._spawn("api", api, env)
        worker = [
            *python,
            "celery",
            "-A",
            "workers.celery_app",
            "worker",
            "-Q",
            "cpu,gpu",
            "-c",
            str(self.concurrency),
        ]
        self._spawn("worker", [*worker, "--loglevel", "INFO", "-n", f"worker-{self.port}@%h"], env)
        schedule = str(self.settings.data_dir.resolve() / "celerybeat-schedule")
        self._spawn(
            "beat", [*python, "celery", "-A", "workers.celery_app", "beat", "--schedule", schedule], env
        )
        if self.log_dir is not None:
            _wait(self._api_up, 60, "the API to answer /healthz")
            _wait(lambda: b"ready." in (self.log_dir / "worker.log").read_bytes(), 60, "the worker")  # type: ignore[operator]
        return self

    def wait(self) -> int:
        """Block until one of the processes exits (or SIGINT/SIGTERM); its exit code."""
        stop = {"signal": 0}

        def on_signal(signum: int, _frame: object) -> None:
            stop["signal"] = signum

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, on_signal)
        while not stop["signal"]:
            for name, proc in self.procs:
                if proc.poll() is not None:
                    typer.echo(f"{name} exited with {proc.returncode}; stopping the rest", err=True)
                    return proc.returncode or 1
            time.sleep(0.5)
        return 0

    def stop(self) -> None:
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for _name, proc in reversed(self.procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for handle in self._logs:
            handle.close()
        self.procs.clear()

    def __enter__(self) -> LocalService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        out: IO[bytes] | None = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            out = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 - closed in stop()
            self._logs.append(out)
        proc = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT if out else None, start_new_session=True
        )
        self.procs.append((name, proc))
        if self.log_dir is None:
            typer.echo(f"started {name} (pid {proc.pid}): {' '.join(command[2:5])}")

    def _api_up(self) -> bool:
        import httpx

        for name, proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {proc.returncode} while starting (see {self.log_dir})"
                )
        try:
            return httpx.get(f"http://{self.host}:{self.port}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


@serve_app.callback(invoke_without_command=True)
def serve(
    host: Annotated[str, typer.Option(help="API host")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="API port")] = 8000,
    concurrency: Annotated[int, typer.Option(help="worker processes (jobs at once)")] = 1,
) -> None:
    """Start the API, a Celery worker and Celery beat (and a local redis-server when none answers at
    REWRITER_REDIS_URL); Ctrl-C stops them all."""
    from rewriter.settings import get_settings

    service = LocalService(get_settings(), host=host, port=port, concurrency=concurrency)
    try:
        service.start()
        typer.echo(f"Rewriter API at {service.base_url} (redis {service.redis_url}); Ctrl-C stops.")
        code = service.wait()
    finally:
        service.stop()
    raise typer.Exit(code)
