"""Diversity of candidate sets (DESIGN §2.1).

``d(u, v) = (1 − cos(u, v)) / 2`` on L2-normalised embeddings; ``D(S)`` = mean pairwise distance;
a candidate's leave-one-out contribution ``r_div,i = max(0, D(S) − D(S \\ {i}))``; corpus distinct-n for reports.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def distances(embeddings: Sequence[Sequence[float]]) -> np.ndarray:
    """Pairwise ``(1 − cos) / 2``; rows are normalised here so any embedding works.

    >>> distances([[1.0, 0.0], [-1.0, 0.0]]).round(3).tolist()
    [[0.0, 1.0], [1.0, 0.0]]
    """
    x = np.asarray(embeddings, dtype=np.float64)  # [N, H]
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return np.clip((1.0 - x @ x.T) / 2.0, 0.0, 1.0)  # [N, N]


def set_diversity(dist: np.ndarray) -> float:
    """Mean pairwise distance ``D(S)``; 0 for fewer than two members.

    >>> set_diversity(distances([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]))
    0.6666666666666666
    """
    n = dist.shape[0]
    if n < 2:
        return 0.0
    return float(dist[np.triu_indices(n, k=1)].mean())


def leave_one_out(dist: np.ndarray) -> list[float]:
    """Each member's contribution ``max(0, D(S) − D(S \\ {i}))``; all 0 when |S| < 2.

    The member far from the others contributes, the near-duplicates do not:

    >>> [round(v, 3) for v in leave_one_out(distances([[1.0, 0.0], [1.0, 0.01], [-1.0, 0.0]]))]
    [0.0, 0.0, 0.667]
    """
    n = dist.shape[0]
    if n < 2:
        return [0.0] * n
    whole = set_diversity(dist)
    out = []
    for i in range(n):
        keep = [j for j in range(n) if j != i]
        out.append(max(0.0, whole - set_diversity(dist[np.ix_(keep, keep)])))
    return out


def distinct_n(texts: Sequence[str], n: int = 2) -> float:
    """Share of distinct character n-grams among all n-grams of a corpus (0 for an empty corpus).

    >>> distinct_n(["abab"], 2)
    0.6666666666666666
    """
    grams = [t[i : i + n] for t in texts for i in range(len(t) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0
