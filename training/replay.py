"""Replay mixing for SFT (issue 15, item 3): a share of the training set is the base model's own samples on the
team's prompts (or the rows of any second file), the lever continual-learning users ask for.

``replay_ratio`` r is the share of replay rows in the mixed set: n data rows get ``round(r·n / (1 − r))`` replay
rows (drawn without replacement, cycling through the replay pool when it is smaller), shuffled in with a seed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from rewriter import prompts
from rewriter.records import Row

REPLAY_MAX_NEW_TOKENS = 128  # the toy's house-style answers are < 60 tokens


def replay_count(rows: int, ratio: float) -> int:
    """Replay rows to add to ``rows`` data rows so that they are ``ratio`` of the mixed set.

    >>> replay_count(600, 0.25), replay_count(600, 0.0), replay_count(10, 0.5)
    (200, 0, 10)
    """
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"replay_ratio must be in [0, 1), got {ratio}")
    return round(ratio * rows / (1.0 - ratio))


def mix(rows: Sequence[Row], replay: Sequence[Row], ratio: float, seed: int = 0) -> list[Row]:
    """``rows`` plus ``replay_count`` rows drawn from ``replay``, shuffled deterministically.

    >>> data = [Row(f"d{i}", "q", "a") for i in range(6)]
    >>> mixed = mix(data, [Row("r0", "q", "b"), Row("r1", "q", "c")], 0.25, seed=0)
    >>> len(mixed), sum(r.id.startswith("replay-") for r in mixed)
    (8, 2)
    """
    n = replay_count(len(rows), ratio)
    if n and not replay:
        raise ValueError("replay_ratio > 0 needs replay rows (the base's samples or replay_file)")
    rng = random.Random(f"replay/{seed}")
    pool: list[Row] = []
    while len(pool) < n:
        pool += rng.sample(list(replay), len(replay))
    added = [
        Row(f"replay-{i}-{r.id}", r.question, r.answer, None, r.schema, 0, {}) for i, r in enumerate(pool[:n])
    ]
    mixed = list(rows) + added
    rng.shuffle(mixed)
    return mixed


def base_samples(
    model_path: str | Path, rows: Sequence[Row], seed: int = 0, template: str = prompts.QA_TEMPLATE
) -> list[Row]:
    """The base's own answer (one sample at temperature 1) to each row's prompt: replay in its own distribution."""
    from rewriter.engines.hf import HFEngine

    engine = HFEngine(model_path, device="cpu")
    rendered = [
        r.question if r.schema == "prompt_completion" else prompts.render(template, r.question) for r in rows
    ]
    generations = engine.generate(
        rendered, n=1, temperature=1.0, top_p=1.0, max_new_tokens=REPLAY_MAX_NEW_TOKENS, seed=seed
    )
    # prompt_completion keeps its prompt verbatim; QA rows keep the question (SFT renders the same template)
    return [
        Row(r.id, r.question, g[0].text.strip(), None, r.schema)
        for r, g in zip(rows, generations, strict=True)
    ]
