"""An evaluation run: ``python -m workers.child_eval <job_id>`` runs :func:`run` (started by the supervisor).

What runs: the model (and adapter) is loaded and ``rewriter.evaluation.evaluate`` decodes the test split of each
suite greedily through the suite's verifier; with a ``base`` model the base is evaluated the same way and
``compare`` gives the downstream gain and the forgetting of the retention suites. Idempotent: a rerun evaluates again
and writes the same result.
"""

from __future__ import annotations

from rewriter.engines import load_engine
from rewriter.evaluation import SuiteResult, compare, evaluate
from rewriter.jobs.eval_run import EvalRunSpec
from rewriter.results import EvalComparison, EvalResult, SuiteScore
from rewriter.runs.context import JobContext
from rewriter.suites import SUITES


def scores(results: dict[str, SuiteResult]) -> dict[str, SuiteScore]:
    return {name: SuiteScore(accuracy=r.accuracy, n=r.n, samples=r.samples) for name, r in results.items()}


def run(ctx: JobContext[EvalRunSpec]) -> int:
    spec = ctx.spec
    done: dict[tuple[str, str | None], dict[str, SuiteResult]] = {}

    def evaluated(model: str, adapter: str | None) -> dict[str, SuiteResult]:
        model_dir, adapter_dir = ctx.registry.engine_paths(ctx.team, model, adapter, ctx.cache)
        if (model_dir, adapter_dir) in done:  # the same weights: greedy decoding gives the same answers
            return done[(model_dir, adapter_dir)]
        ctx.event(f"Evaluating {model}{f' + {adapter}' if adapter else ''} on {len(spec.suites)} suites.")
        engine = load_engine(model_dir, engine=spec.engine, device=ctx.settings.device)
        done[(model_dir, adapter_dir)] = evaluate(
            engine, spec.suites, n=spec.n, seed=spec.seed, adapter=adapter_dir
        )
        return done[(model_dir, adapter_dir)]

    tuned = evaluated(spec.model, spec.adapter)
    result = EvalResult(results=scores(tuned))
    ctx.event(
        "Accuracy: " + ", ".join(f"{name} {r.accuracy:.3f}" for name, r in tuned.items()),
        type="metrics",
        data={name: r.accuracy for name, r in tuned.items()},
    )
    if spec.base is not None:
        base = evaluated(spec.base, None)
        downstream = [name for name in spec.suites if SUITES[name].kind == "downstream"]
        comparison = EvalComparison.model_validate(compare(base, tuned, downstream).as_dict())
        result = result.model_copy(update={"base_results": scores(base), "comparison": comparison})
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
