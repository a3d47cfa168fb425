"""Evaluation runs (``EvalRunRequest`` → ``EvalRunSpec``): greedy accuracy on the toy suites, on the team's held-out
files (each gated by a verifier) and on lm-evaluation-harness tasks from the service's local task directory."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from rewriter.errors import InvalidRequest
from rewriter.specs import Seed, VerifierOptions
from rewriter.suites import SUITES
from rewriter.verifiers import VERIFIERS

Role = Literal["downstream", "retention"]
TASK_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$"


class EvalFile(BaseModel):
    """A held-out file of the team, graded by a verifier."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    file_id: str
    verifier: str = Field(
        description="The gate: math, numeric, exact, choice, regex, toy-number, ...",
        json_schema_extra={"enum": list(VERIFIERS)},
    )
    verifier_options: VerifierOptions = Field(default_factory=dict)
    role: Role = Field(
        "downstream", description="downstream: the gain is reported on it; retention: the forgetting."
    )
    max_new_tokens: int = Field(256, ge=1, le=8192)


class HarnessTask(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str = Field(pattern=TASK_NAME, description="A task name in the service's harness task directory.")
    file_id: str | None = Field(
        None,
        description="Read the task's test split from this file of the team (JSONL, `dataset_path: json`).",
    )


class HarnessRequest(BaseModel):
    """lm-evaluation-harness tasks, run with lm-eval's HF model class on the model and adapter (retention)."""

    model_config = ConfigDict(extra="forbid")

    tasks: list[HarnessTask] = Field(min_length=1)
    num_fewshot: int | None = Field(
        None, ge=0, le=64, description="Shots; default: each task's own (else 0)."
    )
    apply_chat_template: bool = Field(False, description="Render prompts with the model's chat template.")
    limit: int | None = Field(None, ge=1, description="At most this many documents per task.")


class EvalRunRequest(BaseModel):
    """``POST /v1/eval_runs``: greedy accuracy per suite, file and harness task; with ``base``, gain and forgetting
    against it."""

    model_config = ConfigDict(extra="forbid")

    model: str
    adapter: str | None = Field(None, description="An adapter model id to apply on the model.")
    suites: list[Annotated[str, Field(json_schema_extra={"enum": list(SUITES)})]] | None = Field(
        None, description="Toy suite names; default: all, unless files or harness tasks are given."
    )
    files: list[EvalFile] | None = Field(None, description="The team's held-out files, each with a verifier.")
    harness: HarnessRequest | None = None
    n: int = Field(
        200, ge=1, le=5000, description="Test problems per suite; at most this many rows per file."
    )
    base: str | None = Field(None, description="Compare with this model: gain and forgetting.")
    seed: Seed = 0
    metadata: dict[str, str] | None = None


class EvalRunSpec(BaseModel):
    model: str
    adapter: str | None = None
    suites: list[str]
    files: list[EvalFile] = []
    harness: HarnessRequest | None = None
    n: int
    base: str | None = None
    seed: int = 0
    engine: str = "hf"
    metadata: dict[str, str] | None = None


def check_suites(suites: list[str] | None, *, others: bool = False) -> list[str]:
    """The suites to run: all when none are named and nothing else is evaluated (``others``)."""
    if suites is None:
        return [] if others else list(SUITES)
    if not suites and not others:
        raise InvalidRequest("suites must name at least one suite.", param="suites")
    unknown = [name for name in suites if name not in SUITES]
    if unknown:
        raise InvalidRequest(f"unknown suite {unknown[0]!r}; choose from {', '.join(SUITES)}", param="suites")
    return list(dict.fromkeys(suites))


def check_names(suites: list[str], files: list[EvalFile], harness: HarnessRequest | None) -> None:
    """Results are keyed by suite name, file id and task name: each may appear once."""
    seen: set[str] = set(suites)
    named = [(f"files[{i}].file_id", f.file_id) for i, f in enumerate(files)]
    named += [(f"harness.tasks[{i}].task", t.task) for i, t in enumerate(harness.tasks if harness else [])]
    for param, name in named:
        if name in seen:
            raise InvalidRequest(f"{name!r} is named twice: results are keyed by it.", param=param)
        seen.add(name)


class _AnyTagLoader(yaml.SafeLoader):
    """Reads lm-eval YAMLs without running them: ``!function`` and other tags load as None."""


_AnyTagLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


@lru_cache(maxsize=8)
def _index(directory: Path, stamp: tuple[tuple[str, float], ...]) -> frozenset[str]:
    names: set[str] = set()
    for path, _ in stamp:
        try:
            config = yaml.load(Path(path).read_text(), Loader=_AnyTagLoader)  # noqa: S506 (a safe loader)
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(config, dict) and isinstance(config.get("task"), str):
            names.add(config["task"])
    return frozenset(names)


def harness_task_names(directory: Path) -> frozenset[str]:
    """The task names the YAMLs under ``directory`` define (re-read when a YAML changes).

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "t.yaml").write_text("task: toy_add\\nprocess_docs: !function utils.docs\\n")
    >>> sorted(harness_task_names(folder))
    ['toy_add']
    """
    if not directory.is_dir():
        return frozenset()
    stamp = tuple(sorted((str(p), p.stat().st_mtime) for p in directory.rglob("*.yaml") if p.is_file()))
    return _index(directory, stamp)


def check_harness(harness: HarnessRequest, directory: Path) -> None:
    known = harness_task_names(directory)
    for i, task in enumerate(harness.tasks):
        if task.task not in known:
            hint = f"known: {', '.join(sorted(known)[:20])}" if known else "it has no task YAMLs"
            raise InvalidRequest(
                f"unknown harness task {task.task!r} in the service's task directory ({hint}).",
                param=f"harness.tasks[{i}].task",
            )
