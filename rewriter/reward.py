"""The rewriter's grouped reward (Patch, DESIGN §2.3), over the K candidates of ONE row scored together.

::

    S+       = {i : r_task,i = 1}
    z_i      = (ℓ_i − mean_S+ ℓ) / (std_S+ ℓ + 1e-6)      population std; |S+| = 1 ⇒ z = 0
    r_dist,i = sigmoid(−z_i)                             lower NLL under the frozen base ⇒ higher
    r_div,i  = max(0, D(S+) − D(S+ \\ {i}))               0 when |S+| < 2
    r_i      = r_task,i · (1 + λ_dist·r_dist,i + λ_div·r_div,i)

The authors' released code scored one candidate at a time, which makes r_dist and r_div constant; here the group
terms exist because the whole group is passed in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rewriter import diversity

LAMBDA_DIST = 0.35
LAMBDA_DIV = 0.5


@dataclass(frozen=True)
class Reward:
    total: float
    task: float
    dist: float
    div: float


def group_rewards(
    passed: Sequence[bool],
    nlls: Sequence[float | None],
    embeddings: Sequence[Sequence[float]] | None = None,
    *,
    lambda_dist: float = LAMBDA_DIST,
    lambda_div: float = LAMBDA_DIV,
) -> list[Reward]:
    """Rewards of one row's candidates; infeasible candidates get exactly 0 and take no part in the group terms.

    >>> [round(r.total, 4) for r in group_rewards([True, True, False], [0.5, 1.5, 0.1])]
    [1.2559, 1.0941, 0.0]
    >>> group_rewards([True], [2.0])[0].dist  # a single feasible candidate: z = 0
    0.5
    """
    if len(nlls) != len(passed) or (embeddings is not None and len(embeddings) != len(passed)):
        raise ValueError("passed, nlls and embeddings must describe the same candidates")
    feasible = [i for i, ok in enumerate(passed) if ok]
    dist = dict.fromkeys(feasible, 0.5)
    if len(feasible) > 1:
        losses = np.array([_loss(nlls[i]) for i in feasible])
        z = (losses - losses.mean()) / (losses.std() + 1e-6)
        dist = {i: 1.0 / (1.0 + math.exp(float(zi))) for i, zi in zip(feasible, z, strict=True)}
    div = dict.fromkeys(feasible, 0.0)
    if embeddings is not None and len(feasible) > 1:
        contrib = diversity.leave_one_out(diversity.distances([embeddings[i] for i in feasible]))
        div = dict(zip(feasible, contrib, strict=True))
    out = []
    for i, ok in enumerate(passed):
        if not ok:
            out.append(Reward(0.0, 0.0, 0.0, 0.0))
            continue
        total = 1.0 + lambda_dist * dist[i] + lambda_div * div[i]
        out.append(Reward(total, 1.0, dist[i], div[i]))
    return out


def _loss(value: float | None) -> float:
    if value is None or math.isnan(value):
        raise ValueError("every feasible candidate needs its NLL under the base")
    return float(value)
