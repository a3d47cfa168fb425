"""An evaluation run's child process: ``python -m workers.child_eval <job_id>`` (started by the supervisor).

What runs: the model (and adapter) is loaded and ``rewriter.evaluation.evaluate`` decodes the test split of each
suite greedily through the suite's verifier; with a ``base`` model the base is evaluated the same way and
``compare`` gives the downstream gain and the forgetting of the retention suites. Idempotent: a rerun evaluates again
and writes the same result.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import Any

from rewriter.engines import load_engine
from rewriter.errors import RewriterError
from rewriter.evaluation import SuiteResult, compare, evaluate
from rewriter.jobs.eval_run import EvalRunSpec
from rewriter.service.artifacts import Artifacts
from rewriter.service.models import Registry
from rewriter.service.store import Store
from rewriter.settings import get_settings
from rewriter.suites import SUITES


def scores(results: dict[str, SuiteResult]) -> dict[str, dict[str, Any]]:
    return {name: {k: v for k, v in asdict(r).items() if k != "suite"} for name, r in results.items()}


def main(job_id: str) -> int:
    settings = get_settings()
    store = Store.from_url(settings.redis_url)
    registry = Registry(store, Artifacts(settings.artifacts_url), settings.base_models)
    job = store.get_job(job_id, team=None)
    spec = EvalRunSpec.model_validate(job.spec)
    cache = settings.data_dir / "models"

    done: dict[tuple[str, str | None], dict[str, SuiteResult]] = {}

    def run(model: str, adapter: str | None) -> dict[str, SuiteResult]:
        model_dir, adapter_dir = registry.engine_paths(job.team, model, adapter, cache)
        if (model_dir, adapter_dir) in done:  # the same weights: greedy decoding gives the same answers
            return done[(model_dir, adapter_dir)]
        store.add_event(
            job_id, f"Evaluating {model}{f' + {adapter}' if adapter else ''} on {len(spec.suites)} suites."
        )
        engine = load_engine(model_dir, engine=spec.engine, device=settings.device)
        done[(model_dir, adapter_dir)] = evaluate(
            engine, spec.suites, n=spec.n, seed=spec.seed, adapter=adapter_dir
        )
        return done[(model_dir, adapter_dir)]

    tuned = run(spec.model, spec.adapter)
    result: dict[str, Any] = {"results": scores(tuned)}
    store.add_event(
        job_id,
        "Accuracy: " + ", ".join(f"{name} {r.accuracy:.3f}" for name, r in tuned.items()),
        type="metrics",
        data={name: r.accuracy for name, r in tuned.items()},
    )
    if spec.base is not None:
        base = run(spec.base, None)
        downstream = [name for name in spec.suites if SUITES[name].kind == "downstream"]
        comparison = compare(base, tuned, downstream).as_dict()
        result.update(base_results=scores(base), comparison=comparison)
        store.add_event(
            job_id,
            f"Against {spec.base}: gain {comparison['gain']:+.1f} pts, forgetting {comparison['forgetting_abs']:.1f} "
            f"pts ({comparison['forgetting_rel']:.0%}).",
            type="metrics",
            data={k: comparison[k] for k in ("gain", "forgetting_abs", "forgetting_rel")},
        )
    store.set_result(job_id, result)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1]))
    except (RewriterError, ValueError, FileNotFoundError) as exc:  # the reason alone becomes the job's error
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(2)
