"""Benchmark of the hf engine on the toy backbone: batched vs per-prompt generation, and scoring vs generation.

Runs: ``.venv/bin/python bench/engine.py [--prompts 256] [--model toy]`` and prints a table. Greedy decoding of
toy-world prompts (answers of ~10-40 tokens, up to 64 new tokens).
"""

from __future__ import annotations

import argparse
import time

import torch

from rewriter.backbones import resolve_model
from rewriter.backends.hf import HFEngine
from rewriter.tasks import BASE_SKILLS, get_suite


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prompts", type=int, default=256)
    parser.add_argument("--loop-prompts", type=int, default=48, help="prompts for the (slow) per-prompt loop")
    parser.add_argument("--model", default="toy")
    args = parser.parse_args()

    engine = HFEngine(resolve_model(args.model), device="cpu")
    per_suite = max(1, args.prompts // len(BASE_SKILLS))
    examples = [ex for s in BASE_SKILLS for ex in get_suite(s).examples("test", per_suite)]
    prompts = [ex.model_input for ex in examples]
    engine.generate(prompts[:8], temperature=0.0, max_new_tokens=16)  # warm-up

    started = time.perf_counter()
    batched = engine.generate(prompts, temperature=0.0, max_new_tokens=64)
    batched_s = time.perf_counter() - started
    batched_tokens = sum(len(row[0].token_ids) for row in batched)

    loop_prompts = prompts[:: max(1, len(prompts) // args.loop_prompts)][: args.loop_prompts]
    started = time.perf_counter()
    looped = [engine.generate([p], temperature=0.0, max_new_tokens=64)[0] for p in loop_prompts]
    loop_s = time.perf_counter() - started
    loop_tokens = sum(len(row[0].token_ids) for row in looped)

    targets = [row[0].text for row in batched]
    started = time.perf_counter()
    scored = engine.score(prompts, targets)
    score_s = time.perf_counter() - started
    score_tokens = sum(len(s) for s in scored)

    gen_rows = len(prompts) / batched_s
    loop_rows = len(loop_prompts) / loop_s
    gen_tps = batched_tokens / batched_s
    score_tps = score_tokens / score_s
    print(f"toy backbone, {torch.get_num_threads()} threads, greedy, max 64 new tokens")
    print(f"{'mode':28s} {'prompts':>8s} {'seconds':>8s} {'rows/s':>9s} {'tokens/s':>10s}")
    print(
        f"{'generate, per-prompt loop':28s} {len(loop_prompts):8d} {loop_s:8.2f} {loop_rows:9.1f} {loop_tokens / loop_s:10.0f}"
    )
    print(f"{'generate, batched':28s} {len(prompts):8d} {batched_s:8.2f} {gen_rows:9.1f} {gen_tps:10.0f}")
    print(
        f"{'score (teacher-forced)':28s} {len(prompts):8d} {score_s:8.3f} {len(prompts) / score_s:9.1f} {score_tps:10.0f}"
    )
    print(f"batched generation is {gen_rows / loop_rows:.1f}x the per-prompt loop (rows/s)")
    print(f"scoring is {score_tps / gen_tps:.1f}x cheaper per token than generation")


if __name__ == "__main__":
    main()
