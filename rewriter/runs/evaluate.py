"""An evaluation run: ``python -m workers.child_eval <job_id>`` runs :func:`run` (started by the supervisor).

What runs, for the model (and adapter), then the same for the ``base`` when one is named:
- the toy suites: ``rewriter.evaluation.evaluate`` decodes each suite's test split greedily through its verifier;
- the team's held-out files (copied once into ``<data_dir>/work/<job_id>/``): ``evaluate_rows`` decodes the first
  ``n`` rows greedily and gates each output against the row's gold answer with the file's verifier;
- harness tasks: ``rewriter.engines.harness.run_tasks`` runs lm-eval (``HFLM`` with the adapter through PEFT, or
  ``VLLM`` with it as a LoRA request when the service's engine is vllm) on
  the task YAMLs of ``REWRITER_HARNESS__TASKS_DIR``, offline, a task's data replaced by the team's file if named.
``compare`` then gives the gain on the downstream suites and files and the forgetting over the retention suites,
files and harness tasks. Idempotent: a rerun evaluates again and writes the same result.
"""

from __future__ import annotations

from pathlib import Path

from rewriter.engines import load_engine
from rewriter.evaluation import SuiteResult, compare, evaluate, evaluate_rows
from rewriter.formats import read_rows
from rewriter.jobs.eval_run import EvalRunSpec
from rewriter.records import Row
from rewriter.results import EvalComparison, EvalResult, HarnessRecord, SuiteScore
from rewriter.runs.context import JobContext
from rewriter.suites import SUITES
from rewriter.verifiers import get_verifier


def _score(result: SuiteResult, **extra: object) -> SuiteScore:
    return SuiteScore.model_validate(
        {
            "accuracy": result.accuracy,
            "n": result.n,
            "samples": result.samples,
            "unverifiable": result.unverifiable,
            **extra,
        }
    )


def run(ctx: JobContext[EvalRunSpec]) -> int:
    spec = ctx.spec
    rows: dict[str, list[Row]] = {}
    for held_out in spec.files:
        source = ctx.work / f"{held_out.file_id}.jsonl"
        ctx.fetch(held_out.file_id, source)
        rows[held_out.file_id] = read_rows(source)[1][: spec.n]
    harness_data: dict[str, Path] = {}  # task -> the team's file it reads its test split from
    for task in spec.harness.tasks if spec.harness else []:
        if task.file_id is not None:
            harness_data[task.task] = ctx.work / f"{task.file_id}.jsonl"
            ctx.fetch(task.file_id, harness_data[task.task])
    done: dict[tuple[str, str | None], dict[str, SuiteScore]] = {}

    def evaluated(model: str, adapter: str | None) -> dict[str, SuiteScore]:
        model_dir, adapter_dir = ctx.registry.engine_paths(ctx.team, model, adapter, ctx.cache)
        if (model_dir, adapter_dir) in done:  # the same weights: greedy decoding gives the same answers
            return done[(model_dir, adapter_dir)]
        parts = [f"{len(spec.suites)} suites", f"{len(spec.files)} files"]
        if spec.harness:
            parts.append(f"{len(spec.harness.tasks)} harness tasks")
        ctx.event(f"Evaluating {model}{f' + {adapter}' if adapter else ''} on {', '.join(parts)}.")
        scores: dict[str, SuiteScore] = {}
        if spec.suites or spec.files:
            engine = load_engine(model_dir, engine=spec.engine, device=ctx.settings.device)
            for name, result in evaluate(
                engine, spec.suites, n=spec.n, seed=spec.seed, adapter=adapter_dir
            ).items():
                kind = SUITES[name].kind
                role = {"downstream": "downstream", "base": "retention"}.get(kind)
                scores[name] = _score(result, source="suite", role=role)
            for held_out in spec.files:
                verifier = get_verifier(held_out.verifier, **held_out.verifier_options)
                result = evaluate_rows(
                    engine,
                    held_out.file_id,
                    rows[held_out.file_id],
                    verifier,
                    adapter=adapter_dir,
                    max_new_tokens=held_out.max_new_tokens,
                )
                scores[held_out.file_id] = _score(
                    result, source="file", role=held_out.role, verifier=held_out.verifier
                )
        if spec.harness is not None:
            scores.update(_harness(ctx, model_dir, adapter_dir, harness_data, f"{model}-{adapter}"))
        done[(model_dir, adapter_dir)] = scores
        return scores

    tuned = evaluated(spec.model, spec.adapter)
    result = EvalResult(results=tuned)
    ctx.event(
        "Accuracy: " + ", ".join(f"{name} {r.accuracy:.3f}" for name, r in tuned.items()),
        type="metrics",
        data={name: r.accuracy for name, r in tuned.items()},
    )
    if spec.base is not None:
        base = evaluated(spec.base, None)
        downstream = [name for name, r in tuned.items() if r.role == "downstream"]
        retention = [name for name, r in tuned.items() if r.role == "retention"]
        as_results = {
            side: {name: SuiteResult(name, r.accuracy, r.n) for name, r in scores.items()}
            for side, scores in (("base", base), ("tuned", tuned))
        }
        comparison = EvalComparison.model_validate(
            compare(as_results["base"], as_results["tuned"], downstream, retention).as_dict()
        )
        result = result.model_copy(update={"base_results": base, "comparison": comparison})
        ctx.event(
            f"Against {spec.base}: gain {comparison.gain:+.1f} pts, forgetting {comparison.forgetting_abs:.1f} "
            f"pts ({comparison.forgetting_rel:.0%}).",
            type="metrics",
            data={
                "gain": comparison.gain,
                "forgetting_abs": comparison.forgetting_abs,
                "forgetting_rel": comparison.forgetting_rel,
            },
        )
    ctx.result(result)
    return 0


def _harness(
    ctx: JobContext[EvalRunSpec],
    model_dir: str,
    adapter_dir: str | None,
    data: dict[str, Path],
    label: str,
) -> dict[str, SuiteScore]:
    """The spec's harness tasks on one model (lm-eval is imported here only: ~4 s and datasets)."""
    from rewriter.engines.harness import TaskRequest, run_tasks

    harness = ctx.spec.harness
    assert harness is not None
    tasks = [TaskRequest(t.task, data.get(t.task)) for t in harness.tasks]
    scores = run_tasks(
        model_dir,
        tasks,
        tasks_dir=ctx.settings.harness_tasks_dir,
        work=ctx.work / "harness" / label.replace("/", "_").replace(":", "_"),
        adapter=adapter_dir,
        engine=ctx.spec.engine,
        device=ctx.settings.device,
        num_fewshot=harness.num_fewshot,
        apply_chat_template=harness.apply_chat_template,
        limit=harness.limit,
        batch_size=ctx.settings.harness.batch_size,
    )
    file_ids = {t.task: t.file_id for t in harness.tasks}
    return {
        name: SuiteScore(
            accuracy=s.accuracy,
            n=s.n,
            samples=s.samples,
            source="harness",
            role="retention",
            harness=HarnessRecord(
                metric=s.metric,
                num_fewshot=s.num_fewshot,
                apply_chat_template=s.apply_chat_template,
                lm_eval_version=s.lm_eval_version,
                model_class=s.model_class,
                data_file_id=file_ids[name],
            ),
        )
        for name, s in scores.items()
    }
