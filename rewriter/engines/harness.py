"""lm-evaluation-harness tasks on a model (plus a PEFT adapter), through lm-eval's own HF model class (``HFLM``),
or its vLLM class (``VLLM``, the adapter as a LoRA request) when the service's engine is ``vllm``.

Task configs come only from a local directory (``TaskManager(include_path=..., include_defaults=False)``); a
task's data may be replaced by a local file (a team's upload) with ``dataset_path: json``. The hub is switched
off for the whole process first (``HF_HUB_OFFLINE``, ``HF_DATASETS_OFFLINE``), so a task that names a hub data
set fails instead of downloading. Each task reports its primary metric (the first of its ``metric_list`` under
its first filter) with the settings that produced it: shots, chat template, metric, lm-eval's version.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


@dataclass(frozen=True)
class TaskRequest:
    """One harness task: its name in the tasks directory and, optionally, a local JSONL file as its test data."""

    name: str
    data_file: Path | None = None


@dataclass
class TaskScore:
    task: str
    accuracy: float  # the primary metric's value
    n: int
    metric: str  # "<metric>,<filter>" as lm-eval keys it
    num_fewshot: int
    apply_chat_template: bool
    lm_eval_version: str
    model_class: str  # lm-eval's: HFLM or VLLM
    samples: list[dict[str, str]] = field(default_factory=list)


def go_offline() -> None:
    """No hub from here on, in this process: the variables for libraries not imported yet, the constants of those
    already imported (they read the variables once, at import)."""
    os.environ.update(OFFLINE)
    import datasets.config
    import huggingface_hub.constants

    huggingface_hub.constants.HF_HUB_OFFLINE = True
    datasets.config.HF_HUB_OFFLINE = True
    datasets.config.HF_DATASETS_OFFLINE = True


def _spec(manager: Any, task: TaskRequest, work: Path) -> str:
    """What ``TaskManager.load`` gets: the task's name, or a YAML in ``work`` that includes the task's own config
    and reads its test split from ``task.data_file``."""
    if task.data_file is None:
        return task.name
    entry = manager.task_index.get(task.name)
    if entry is None or entry.yaml_path is None:
        raise ValueError(f"harness task {task.name!r} has no YAML config to read a data file with")
    override = {
        "include": str(Path(entry.yaml_path).resolve()),
        "task": task.name,
        "dataset_path": "json",
        "dataset_name": None,
        "dataset_kwargs": {"data_files": {"test": str(task.data_file.resolve())}},
        "test_split": "test",
        "training_split": None,
        "validation_split": None,
        "fewshot_split": "test",
    }
    path = work / f"{task.name}.data.yaml"
    path.write_text(json.dumps(override, indent=2) + "\n")
    return str(path)


def primary_metric(config: dict[str, Any]) -> str:
    """The metric key a task is judged by: its first metric under its first filter ("none" without filters).

    >>> primary_metric({"metric_list": [{"metric": "exact_match"}], "filter_list": [{"name": "strict"}]})
    'exact_match,strict'
    >>> primary_metric({"metric_list": [{"metric": "acc"}, {"metric": "acc_norm"}]})
    'acc,none'
    """
    metrics = config.get("metric_list") or [{"metric": "acc"}]
    filters = config.get("filter_list") or [{"name": "none"}]
    return f"{metrics[0]['metric']},{filters[0]['name']}"


def _model(model_dir: str, adapter: str | None, engine: str, device: str, batch_size: int) -> Any:
    """lm-eval's model class for the engine, in the engine's own dtypes (``rewriter.engines.hf``: float32 on a
    CPU), so greedy answers match the built-in evaluator's."""
    import torch

    from rewriter.engines.hf import resolve_device

    if engine == "vllm":
        from lm_eval.models.vllm_causallms import VLLM

        from rewriter.engines.vllm import MAX_LORA_RANK

        cpu = resolve_device(device).type == "cpu"
        # Not run here (no vllm in CI's venv). On a CPU the memory share is of RAM: 0.15 started on 24 GB (DESIGN).
        return VLLM(
            pretrained=model_dir,
            dtype="float32" if cpu else "auto",
            gpu_memory_utilization=0.15 if cpu else 0.85,
            batch_size="auto",
            enable_lora=adapter is not None,
            lora_local_path=adapter,
            max_lora_rank=MAX_LORA_RANK,
        )
    from lm_eval.models.huggingface import HFLM

    place = resolve_device(device)
    return HFLM(
        pretrained=model_dir,
        peft=adapter,
        device=str(place),
        dtype=torch.bfloat16 if place.type == "cuda" else torch.float32,
        batch_size=batch_size,
    )


def run_tasks(
    model_dir: str,
    tasks: list[TaskRequest],
    *,
    tasks_dir: Path,
    work: Path,
    adapter: str | None = None,
    engine: str = "hf",
    device: str = "cpu",
    num_fewshot: int | None = None,
    apply_chat_template: bool = False,
    limit: int | None = None,
    batch_size: int = 32,
    keep_samples: int = 3,
) -> dict[str, TaskScore]:
    """Run ``tasks`` with lm-eval on ``model_dir`` (+ ``adapter``); task name → its score and settings."""
    go_offline()
    import lm_eval
    from lm_eval.tasks import TaskManager

    work.mkdir(parents=True, exist_ok=True)
    manager = TaskManager(include_path=str(tasks_dir), include_defaults=False)
    unknown = [t.name for t in tasks if t.name not in manager.task_index]
    if unknown:
        raise ValueError(f"harness task {unknown[0]!r} is not in {tasks_dir}")
    model = _model(model_dir, adapter, engine, device, batch_size)
    results = lm_eval.simple_evaluate(
        model=model,
        tasks=[_spec(manager, t, work) for t in tasks],
        num_fewshot=num_fewshot,
        apply_chat_template=apply_chat_template,
        limit=limit,
        task_manager=manager,
        log_samples=True,
        bootstrap_iters=0,
    )
    assert results is not None  # None only on non-zero ranks of a distributed run
    version = getattr(lm_eval, "__version__", "unknown")
    scores: dict[str, TaskScore] = {}
    for task in tasks:
        config = results["configs"][task.name]
        metric = primary_metric(config)
        samples = results.get("samples", {}).get(task.name, [])
        scores[task.name] = TaskScore(
            task=task.name,
            accuracy=float(results["results"][task.name][metric]),
            n=int(results["n-samples"][task.name]["effective"]),
            metric=metric,
            num_fewshot=int(results["n-shot"][task.name]),
            apply_chat_template=bool(apply_chat_template),
            lm_eval_version=str(version),
            model_class=type(model).__name__,
            samples=[
                {
                    "prompt": str(s["arguments"][0][0]),
                    "output": str(s["resps"][0][0]),
                    "gold": str(s["target"]),
                }
                for s in samples[:keep_samples]
            ],
        )
    return scores
