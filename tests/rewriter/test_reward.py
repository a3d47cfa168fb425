"""The grouped reward of DESIGN §2.3, checked against hand-computed values."""

from __future__ import annotations

import math

import pytest

from rewriter.reward import LAMBDA_DIST, LAMBDA_DIV, group_rewards


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_hand_computed_group() -> None:
    # Three feasible candidates with NLLs 0.2, 0.5, 0.8 and one infeasible.
    # mean 0.5, population std sqrt(0.06) = 0.24495 -> z = (-1.2247, 0, 1.2247)
    nlls = [0.2, 0.5, 0.8, 0.1]
    embeddings = [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.5, 0.5]]
    rewards = group_rewards([True, True, True, False], nlls, embeddings)
    std = math.sqrt(((0.2 - 0.5) ** 2 + 0 + (0.8 - 0.5) ** 2) / 3)
    z = [(x - 0.5) / (std + 1e-6) for x in nlls[:3]]
    dist = [_sigmoid(-zi) for zi in z]
    # distances: d(e0,e1) = 0.5, d(e0,e2) = 0, d(e1,e2) = 0.5 -> D(S) = 1/3
    # D(S\{0}) = d(e1,e2) = 0.5 -> r_div0 = max(0, 1/3 - 0.5) = 0; likewise r_div2 = 0
    # D(S\{1}) = d(e0,e2) = 0 -> r_div1 = 1/3
    div = [0.0, 1 / 3, 0.0]
    for r, d, v in zip(rewards[:3], dist, div, strict=True):
        assert r.task == 1.0
        assert r.dist == pytest.approx(d, abs=1e-6)
        assert r.div == pytest.approx(v, abs=1e-6)
        assert r.total == pytest.approx(1 + LAMBDA_DIST * d + LAMBDA_DIV * v, abs=1e-6)
    assert rewards[3].total == 0.0 and rewards[3].dist == 0.0 and rewards[3].div == 0.0


def test_group_terms_vary_within_a_group() -> None:
    rewards = group_rewards([True] * 4, [0.3, 0.9, 0.4, 1.5], [[1, 0], [0.9, 0.1], [0, 1], [-1, 0]])
    assert len({round(r.dist, 6) for r in rewards}) == 4
    assert len({round(r.div, 6) for r in rewards}) > 1
    assert max(r.total for r in rewards) > min(r.total for r in rewards)


def test_infeasible_candidates_get_exactly_zero() -> None:
    rewards = group_rewards([False, False], [0.1, 9.0], [[1, 0], [0, 1]])
    assert [r.total for r in rewards] == [0.0, 0.0]


def test_single_feasible_candidate_gets_half_dist_and_no_div() -> None:
    rewards = group_rewards([False, True, False], [None, 3.0, None], [[1, 0], [0, 1], [1, 1]])
    assert rewards[1].dist == 0.5
    assert rewards[1].div == 0.0
    assert rewards[1].total == pytest.approx(1 + LAMBDA_DIST * 0.5)


def test_missing_nll_for_a_feasible_candidate_is_an_error() -> None:
    with pytest.raises(ValueError, match="NLL"):
        group_rewards([True, True], [0.5, None])
