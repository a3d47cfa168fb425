"""Benchmark of the rewrite pipeline on the toy world: rows/s per strategy and the share of time in generate /
score / verify.

Runs: ``.venv/bin/python bench/rewrite.py [--rows 256] [--strategies identity,self_distill,guided_resolve,policy]``.
Rows are the toy ``downstream`` train set (expert prose answers); K=4, max 96 new tokens, verifier toy-number.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from rewriter import pipeline
from rewriter.engines import load_engine
from rewriter.specs import StrategySpec
from rewriter.suites import get_suite


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--strategies", default="identity,self_distill,guided_resolve,policy")
    parser.add_argument("--model", default="toy")
    args = parser.parse_args()

    engine = load_engine(args.model, "hf", "cpu")
    engine.generate(["1+1"], temperature=0.0, max_new_tokens=8)  # warm-up
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "in.jsonl"
        with data.open("w") as fh:
            for i, ex in enumerate(get_suite("downstream").examples("train", args.rows)):
                fh.write(
                    json.dumps({"id": str(i), "question": ex.question, "answer": ex.expert, "gold": ex.gold})
                    + "\n"
                )
        print(f"{args.rows} toy downstream rows, K=4, max 96 new tokens")
        header = f"{'strategy':16s} {'rows/s':>8s} {'seconds':>8s} {'accepted':>9s} {'generate':>9s} {'score':>7s} {'verify':>7s}"
        print(header)
        for name in args.strategies.split(","):
            spec = StrategySpec(strategy=name, verifier="toy-number", max_new_tokens=96)  # type: ignore[arg-type]
            started = time.perf_counter()
            result = pipeline.run(data, Path(tmp) / f"{name}.jsonl", spec, engine, model=args.model)
            seconds = time.perf_counter() - started
            share = result.report["throughput"]["share"]
            accepted = result.report["acceptance_rate"] or 0.0
            print(
                f"{name:16s} {args.rows / seconds:8.2f} {seconds:8.1f} {accepted:9.2f} "
                f"{share['generate'] or 0:9.2f} {share['score'] or 0:7.2f} {share['verify'] or 0:7.2f}"
            )


if __name__ == "__main__":
    main()
