"""Commands on this machine: ``rewriter serve`` runs the whole service here (:class:`LocalService`: the API, a
Celery worker, Celery beat and, when needed, a private Redis); ``rewriter keys create`` makes an API key (talks to
Redis directly). The commands that talk to a running service are in ``cli.remote`` and ``cli.remote_jobs``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Annotated

import typer

from rewriter.settings import Settings

# Processes `wait` starts again when they exit; the API and Redis stop the service instead.
RESTARTED = frozenset({"worker", "beat"})
QUICK_DEATH_SECONDS = 10.0  # one that dies sooner than this after its start waits longer before the next
MAX_RESTART_DELAY = 30.0

keys_app = typer.Typer(no_args_is_help=True, help="API keys (talks to Redis directly).")
serve_app = typer.Typer(help="Run the service on this machine.")


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
    :meth:`wait` supervises them: a worker or beat that dies is started again, with a log line.

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
        self._commands: dict[str, tuple[list[str], dict[str, str]]] = {}
        self._started_at: dict[str, float] = {}
        self._restart_at: dict[str, float] = {}
        self._delay: dict[str, float] = {}

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
        self._spawn("api", self.api_command(), env)
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

    def api_command(self) -> list[str]:
        """uvicorn with ``ApiSettings.workers`` processes, its access log off unless ``ApiSettings.access_log``."""
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "app.main:create_app",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--workers",
            str(self.settings.api.workers),
            *([] if self.settings.api.access_log else ["--no-access-log"]),
        ]

    def wait(self) -> int:
        """Supervise until SIGINT/SIGTERM (then 0) or until the API or Redis exits (then its exit code).

        A dead worker or beat is started again (see :meth:`check`), with a log line; the caller stops the rest.
        """
        stop = {"signal": 0}

        def on_signal(signum: int, _frame: object) -> None:
            stop["signal"] = signum

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, on_signal)
        while not stop["signal"]:
            code = self.check()
            if code is not None:
                return code
            time.sleep(0.5)
        typer.echo(f"{signal.Signals(stop['signal']).name} received; stopping", err=True)
        return 0

    def check(self) -> int | None:
        """One look at the processes: restart a worker or beat that exited (after a pause that doubles while it
        keeps dying within ``QUICK_DEATH_SECONDS`` of its start, up to ``MAX_RESTART_DELAY``); the exit code of an
        API or Redis that exited (nothing restarts those: a private Redis comes back empty), else None."""
        moment = time.monotonic()
        for index, (name, proc) in enumerate(self.procs):
            if proc.poll() is None:
                continue
            if name not in RESTARTED:
                typer.echo(f"{name} exited with {proc.returncode}; stopping the rest", err=True)
                return proc.returncode or 1
            due = self._restart_at.get(name)
            if due is None:
                quick = moment - self._started_at[name] < QUICK_DEATH_SECONDS
                delay = min(MAX_RESTART_DELAY, 2 * self._delay.get(name, 0.5)) if quick else 1.0
                self._delay[name] = delay
                self._restart_at[name] = moment + delay
                _kill_group(proc.pid)  # what it left behind (the worker's pool) goes with it
                typer.echo(
                    f"{name} (pid {proc.pid}) exited with {proc.returncode}; restarting it in {delay:g} s",
                    err=True,
                )
            elif moment >= due:
                del self._restart_at[name]
                command, env = self._commands[name]
                self.procs[index] = (name, self._popen(name, command, env, append=True))
                typer.echo(f"restarted {name} as pid {self.procs[index][1].pid}", err=True)
        return None

    def stop(self) -> None:
        """SIGTERM to each process group (the API, worker and beat first, Redis last), SIGKILL after 20 s; then
        SIGKILL to whatever is left in the groups (a dead worker's pool)."""
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for _name, proc in reversed(self.procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                _kill_group(proc.pid)
                proc.wait()
            _kill_group(proc.pid)
        for handle in self._logs:
            handle.close()
        self.procs.clear()

    def __enter__(self) -> LocalService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        self._commands[name] = (command, env)
        proc = self._popen(name, command, env)
        self.procs.append((name, proc))
        if self.log_dir is None:
            typer.echo(f"started {name} (pid {proc.pid}): {' '.join(command[2:5])}")

    def _popen(
        self, name: str, command: list[str], env: dict[str, str], *, append: bool = False
    ) -> subprocess.Popen[bytes]:
        out: IO[bytes] | None = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            out = open(self.log_dir / f"{name}.log", "ab" if append else "wb")  # noqa: SIM115 - closed in stop()
            self._logs.append(out)
        self._started_at[name] = time.monotonic()
        return subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT if out else None, start_new_session=True
        )

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


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


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
    REWRITER_REDIS_URL); a worker or beat that dies is restarted; Ctrl-C (or SIGTERM) stops them all."""
    from rewriter.settings import get_settings

    service = LocalService(get_settings(), host=host, port=port, concurrency=concurrency)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # while starting, SIGTERM stops like Ctrl-C
    try:
        service.start()
        typer.echo(f"Rewriter API at {service.base_url} (redis {service.redis_url}); Ctrl-C stops.")
        code = service.wait()
    finally:
        service.stop()
    raise typer.Exit(code)
