"""Data-parallel SFT: ``accelerate launch`` of N processes, each training on its share of every step (DDP).

What runs: :func:`train_distributed` (called by a fine-tuning job's child, ``training.jobs``) writes the run to
``<out>.launch/run.json`` and starts

    accelerate launch --multi_gpu --num_processes N --num_machines 1 --main_process_port P \\
        -m training.distributed <out>.launch/run.json

in the child's process group (the supervisor's SIGTERM to the group on cancel, and its SIGKILL of stragglers, reach
every rank). ``--multi_gpu`` is how accelerate
starts N local processes through torchrun; on a machine without CUDA the trainer's ``use_cpu`` makes accelerate pick
the gloo backend (``MULTI_CPU``), on GPUs NCCL. With ``worker.accelerate_config`` set (``deploy/accelerate/*.yaml``)
the launch reads that file instead, e.g. FSDP on the GPU workers (docs/operations.md, "Multi-process fine-tuning").

Every rank runs :func:`training.sft.train_sft` with the same spec: the Trainer shards each global batch of
``batch_size`` rows over the ranks (``batch_size / N`` each, the same rows a single process would take at that
step), DDP averages the gradients, and only rank 0 saves the weights and ``training.json``. Rank 0 appends each
logged step to ``<out>.launch/steps.jsonl``, which the parent tails to stream progress and to poll the cancel flag.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STEPS_FILE = "steps.jsonl"
RUN_FILE = "run.json"


@dataclass
class Launched:
    """What a launched run returns (the ``Trained`` protocol of ``rewriter.runs.fine_tune``)."""

    stopped: bool
    metrics: list[dict[str, Any]]


def launch_command(n_processes: int, run_file: Path, port: int, config_file: str | None = None) -> list[str]:
    """The ``accelerate launch`` command line for ``n_processes`` local ranks running this module on ``run_file``.

    >>> launch_command(2, Path("/w/run.json"), 29501)[3:]
    ['--multi_gpu', '--num_processes', '2', '--num_machines', '1', '--main_process_port', '29501', '-m', 'training.distributed', '/w/run.json']
    >>> launch_command(8, Path("/w/run.json"), 29501, "deploy/accelerate/fsdp.yaml")[3:6]
    ['--config_file', 'deploy/accelerate/fsdp.yaml', '--num_processes']
    """
    command = [sys.executable, "-m", "accelerate.commands.launch"]
    # A config file names the distributed type (FSDP, DeepSpeed, multi-GPU); without one, plain DDP over torchrun.
    command += ["--config_file", config_file] if config_file else ["--multi_gpu"]
    command += ["--num_processes", str(n_processes), "--num_machines", "1", "--main_process_port", str(port)]
    return [*command, "-m", "training.distributed", str(run_file)]


def free_port() -> int:
    """A TCP port nobody listens on now: the rendezvous port of one launch (several jobs may share a machine)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def train_distributed(
    data: Path,
    model_dir: Path,
    out: Path,
    args: dict[str, Any],
    *,
    on_step: Callable[[int, dict[str, Any]], None],
    should_stop: Callable[[], bool],
    accelerate_config: str | None = None,
    validation: Path | None = None,
    poll_seconds: float = 0.5,
) -> Launched:
    """SFT with ``SFTSpec(**args)`` in ``args["n_processes"]`` processes; streams rank 0's steps to ``on_step``.

    A cancel (``should_stop``, polled every ``poll_seconds``) stops every rank (SIGTERM to torchrun) and returns
    ``stopped=True``; a rank that fails makes this raise ``RuntimeError`` with the launch's exit code (the job is
    retried like any crashed child). Nothing is registered from a stopped or failed run.
    """
    # The parent stays light: it imports neither torch nor TRL (~480 MB) while the ranks train; each rank checks the
    # spec (SFTSpec) before it trains.
    n_processes = int(args["n_processes"])
    scratch = out.parent / f"{out.name}.launch"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    run_file = scratch / RUN_FILE
    run = {
        "data": str(data),
        "model_dir": str(model_dir),
        "out": str(out),
        "spec": args,
        "validation": str(validation) if validation is not None else None,
    }
    run_file.write_text(json.dumps(run))
    steps = scratch / STEPS_FILE
    steps.touch()

    env = dict(os.environ)
    # One intra-op thread per rank unless the operator says otherwise: N ranks already use N cores, and two threads
    # per process on shared cores ran ~9x slower (docs/architecture.md, speed notes).
    env.setdefault("OMP_NUM_THREADS", "1")
    command = launch_command(n_processes, run_file, free_port(), accelerate_config)
    launcher = subprocess.Popen(command, env=env)
    metrics: list[dict[str, Any]] = []
    offset = 0

    def forward() -> None:  # the complete lines rank 0 appended since the last look
        nonlocal offset
        with open(steps, "rb") as lines:
            lines.seek(offset)
            chunk = lines.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        offset += len(complete)
        for line in complete.splitlines():
            record = json.loads(line)
            metrics.append(record)
            on_step(int(record["step"]), record)

    stopped = False
    try:
        while launcher.poll() is None:
            time.sleep(poll_seconds)
            forward()
            if should_stop():
                stopped = True
                _stop(launcher)
                break
        forward()
    finally:
        _stop(launcher)
    if stopped:
        return Launched(stopped=True, metrics=metrics)
    if launcher.returncode != 0:
        raise RuntimeError(
            f"accelerate launch of {n_processes} processes exited with code {launcher.returncode}"
        )
    shutil.rmtree(scratch, ignore_errors=True)
    return Launched(stopped=False, metrics=metrics)


def _stop(launcher: subprocess.Popen[bytes], grace_seconds: float = 10.0) -> None:
    """SIGTERM to the launcher (torchrun's agent stops its ranks on it), SIGKILL after ``grace_seconds``."""
    if launcher.poll() is not None:
        return
    launcher.send_signal(signal.SIGTERM)
    try:
        launcher.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        launcher.kill()  # a rank it left behind is in the child's group: the supervisor kills that group at the end
        launcher.wait()


def _rank_main(run_file: Path) -> None:
    """One rank: ``train_sft`` on the run's spec; rank 0 appends each logged step to ``steps.jsonl``."""
    import torch

    from training.hooks import TrainingHooks
    from training.sft import SFTSpec, train_sft

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    run = json.loads(run_file.read_text())
    hooks = TrainingHooks()
    if int(os.environ.get("RANK", "0")) == 0:
        steps = open(run_file.parent / STEPS_FILE, "a")  # noqa: SIM115 - open for the whole run

        def on_step(step: int, record: dict[str, Any]) -> None:
            steps.write(json.dumps({**record, "step": step}) + "\n")
            steps.flush()

        hooks = TrainingHooks(on_step=on_step)
    validation = Path(run["validation"]) if run.get("validation") else None
    train_sft(run["data"], run["model_dir"], run["out"], SFTSpec(**run["spec"]), hooks, validation=validation)


if __name__ == "__main__":
    _rank_main(Path(sys.argv[1]))
