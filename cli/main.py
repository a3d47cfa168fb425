"""The ``rewriter`` command line. Each command parses its arguments and calls one function of the library,
training or the HTTP client; heavy imports happen inside the command that needs them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from cli import remote, remote_jobs, service, toy, training, workflows

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Rewrite fine-tuning data so fine-tuning forgets less."
)
app.add_typer(toy.app, name="toy")
app.add_typer(remote.files_app, name="files")
app.add_typer(remote_jobs.jobs_app, name="jobs")
app.add_typer(remote_jobs.evals_app, name="evals")
app.add_typer(remote.models_app, name="models")
app.add_typer(service.keys_app, name="keys")
app.add_typer(service.serve_app, name="serve")
workflows.register(app)
training.register(app)


@app.command("eval")
def eval_command(
    model: Annotated[str, typer.Option(help="'toy' or a model directory")] = "toy",
    adapter: Annotated[Path | None, typer.Option(help="a PEFT adapter directory")] = None,
    suites: Annotated[str | None, typer.Option(help="comma-separated suite names (default: all)")] = None,
    base: Annotated[
        str | None, typer.Option(help="compare with this base model: gain and forgetting")
    ] = None,
    n: Annotated[int, typer.Option("-n", help="test problems per suite")] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Greedy accuracy per suite (and gain / forgetting against --base)."""
    from rewriter.engines import load_engine
    from rewriter.evaluation import compare, evaluate
    from rewriter.suites import SUITES, get_suite

    names = suites.split(",") if suites else list(SUITES)
    results = evaluate(load_engine(model), names, n=n, adapter=str(adapter) if adapter else None)
    payload: dict[str, object] = {
        "model": model,
        "adapter": str(adapter) if adapter else None,
        "accuracy": {k: r.accuracy for k, r in results.items()},
    }
    if base:
        base_results = evaluate(load_engine(base), names, n=n)
        downstream = [s for s in names if get_suite(s).kind == "downstream"]
        payload["comparison"] = compare(base_results, results, downstream).as_dict()
    if as_json:
        typer.echo(json.dumps(payload, indent=2))
        return
    for name, result in results.items():
        typer.echo(f"{name:18s} {result.accuracy:6.3f}  (n={result.n})")
    if base:
        cmp = payload["comparison"]
        assert isinstance(cmp, dict)
        typer.echo(
            f"gain {cmp['gain']:+.1f} pts   forgetting {cmp['forgetting_abs']:.1f} pts ({cmp['forgetting_rel']:.0%})"
        )


@app.command("demo")
def demo() -> None:
    """The main job on the embedded toy world (CPU): scorecard, rewriting, fine-tuning, forgetting."""
    from cli.demo import run_demo

    run_demo()


def main() -> None:
    try:
        app()
    except (ValueError, FileNotFoundError) as exc:  # domain errors: one line, no traceback
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
