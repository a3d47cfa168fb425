"""The committed toy backbone meets its targets, and a rebuild from scratch reproduces its scorecard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rewriter.backbones import TOY_DIR
from rewriter.suites import BASE_SKILLS

CARD = json.loads((TOY_DIR / "scorecard.json").read_text())


def test_committed_card_meets_the_targets() -> None:
    # The targets: 0.95 on every base skill, 0.90 on the reference skill, the primary downstream task half solved,
    # the counter-example not solved.
    acc = CARD["accuracy"]
    assert all(acc[s] >= 0.95 for s in BASE_SKILLS), acc
    assert acc["reference"] >= 0.90
    assert 0.30 <= acc["downstream"] <= 0.60
    assert acc["downstream-newop"] <= 0.10
    nll = CARD["nll"]["downstream"]
    assert nll["expert_mean_nll"] > 5 * nll["house_mean_nll"]


def test_committed_backbone_reproduces_its_card() -> None:
    from training.toy_build import scorecard

    fresh = scorecard(TOY_DIR, n=CARD["n_per_suite"])
    assert fresh["accuracy"] == CARD["accuracy"]


@pytest.mark.slow
def test_rebuild_reaches_the_card_within_3_points(tmp_path: Path) -> None:
    from training.pretrain import PretrainConfig
    from training.toy_build import build

    card = build(
        tmp_path / "toy", PretrainConfig(**{k: v for k, v in CARD_CONFIG.items()}), log=lambda _: None
    )
    for suite, accuracy in CARD["accuracy"].items():
        assert abs(card["accuracy"][suite] - accuracy) <= 0.03, (suite, card["accuracy"][suite], accuracy)


CARD_CONFIG = json.loads((TOY_DIR / "rewriter.json").read_text())["pretrain"]
