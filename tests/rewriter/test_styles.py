"""downstream-styles: every expert register's final answer passes the toy verifier; splits are disjoint."""

from __future__ import annotations

import pytest

from rewriter.suites import STYLE_SUITES, get_suite, styles


@pytest.mark.parametrize("register", list(styles.REGISTERS))
def test_every_register_passes_the_gate_and_a_wrong_gold_fails(register: str) -> None:
    suite = get_suite(f"downstream-style-{register}")
    examples = suite.examples("train", 60)
    assert {ex.extra["register"] for ex in examples} == {register}
    for ex in examples:
        assert suite.check(ex.expert, ex.gold).passed, (register, ex.expert)
        assert suite.check(ex.house, ex.gold).passed
        assert not suite.check(ex.expert, str(int(ex.gold) + 1)).passed, (register, ex.expert)


def test_wordings_units_and_verbs_vary_and_splits_are_disjoint() -> None:
    suite = get_suite("downstream-styles")
    train = suite.examples("train", 400)
    test = suite.examples("test", 100)
    assert {ex.extra["wording"] for ex in train} == {"0", "1", "2", "3"}
    assert {ex.extra["register"] for ex in train} == set(styles.REGISTERS)
    assert any("grams of flour" in ex.question for ex in train)
    # a problem is in the split of its facts (name, unit, numbers), whatever its wording
    assert not {ex.extra["key"] for ex in test} & {ex.extra["key"] for ex in train}


def test_the_split_of_registers_holds_out_at_least_two() -> None:
    assert set(styles.SEEN_REGISTERS) | set(styles.HELD_OUT_REGISTERS) == set(styles.REGISTERS)
    assert not set(styles.SEEN_REGISTERS) & set(styles.HELD_OUT_REGISTERS)
    assert len(styles.HELD_OUT_REGISTERS) >= 2
    held = STYLE_SUITES["downstream-styles-held-out"].examples("train", 100)
    assert {ex.extra["register"] for ex in held} == set(styles.HELD_OUT_REGISTERS)
