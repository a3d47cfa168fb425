"""Benchmark of the hf engine on the toy backbone: batched vs per-prompt generation, and scoring vs generation.

Runs: ``.venv/bin/python bench/engine.py [--prompts 256] [--model toy] [--engine hf|vllm] [--device auto]`` and
prints a table. Greedy decoding of toy-world prompts (answers of ~10-40 tokens, up to 64 new tokens).

"Per token" compares target tokens scored per second with tokens generated per second. Both paths also process
every prompt token once, so the table prints all processed tokens per second as well. On a CPU a batched
1M-parameter model is compute-bound in both paths (each token costs the same FLOPs whether teacher-forced or
decoded), so scoring is only slightly cheaper; on a GPU decoding is bound by one sequential step per token and
scoring is many times cheaper. Run it with ``--device cuda`` (or ``--engine vllm``) on a GPU to see that gap.
"""

from __future__ import annotations

import argparse
import time

import torch

from rewriter.engines import load_engine
from rewriter.suites import BASE_SKILLS, get_suite


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prompts", type=int, default=256)
    parser.add_argument("--loop-prompts", type=int, default=48, help="prompts for the (slow) per-prompt loop")
    parser.add_argument("--model", default="toy")
    parser.add_argument("--engine", default="hf", choices=["hf", "vllm"])
    parser.add_argument("--device", default="cpu", help="hf engine: cpu, cuda or auto")
    args = parser.parse_args()

    engine = load_engine(args.model, args.engine, args.device)
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
    prompt_tokens = sum(len(ids) for ids in engine.tokenizer(prompts)["input_ids"])

    gen_rows = len(prompts) / batched_s
    loop_rows = len(loop_prompts) / loop_s
    gen_tps = batched_tokens / batched_s
    score_tps = score_tokens / score_s
    where = f"{args.engine} engine, {args.device}, {torch.get_num_threads()} threads"
    print(f"{args.model} backbone, {where}, greedy, max 64 new tokens")
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
    print(
        f"all processed tokens (prompt + answer) per second: generate {(prompt_tokens + batched_tokens) / batched_s:.0f}, "
        f"score {(prompt_tokens + score_tokens) / score_s:.0f}"
    )


if __name__ == "__main__":
    main()
