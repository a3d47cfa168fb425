"""Evaluation on a team's held-out rows: the toy on its downstream test split written as `messages` rows with
GSM8K-style answers (``#### N``), graded by the ``numeric`` verifier, scores what the built-in suite scores."""

from __future__ import annotations

import pytest

from rewriter.engines import load_engine
from rewriter.evaluation import compare, evaluate, evaluate_rows, row_prompt
from rewriter.formats import parse_record
from rewriter.records import Row
from rewriter.suites import get_suite
from rewriter.verifiers import get_verifier


def held_out(n: int) -> list[Row]:
    """Downstream test problems as chat rows: a system prompt, the question, a prose answer ending ``#### N``."""
    rows = []
    for i, e in enumerate(get_suite("downstream").examples("test", n)):
        turns = [
            {"role": "system", "content": "Solve the word problem."},
            {"role": "user", "content": e.question},
            {"role": "assistant", "content": f"{e.expert}\n#### {e.gold}"},
        ]
        rows.append(parse_record({"id": f"h{i}", "messages": turns}, i + 1, "messages"))
    return rows


def test_messages_rows_score_what_the_builtin_suite_scores() -> None:
    engine = load_engine("toy", "hf", "cpu")
    rows = held_out(40)
    # The toy's chat template renders a user turn exactly like its QA prompt (and drops system turns).
    assert row_prompt(rows[0], engine.tokenizer)[0] == f"Problem:\n{rows[0].question}\n\nAnswer:\n"  # type: ignore[attr-defined]
    ours = evaluate_rows(engine, "held-out", rows, get_verifier("numeric"), max_new_tokens=96)
    builtin = evaluate(engine, ["downstream"], n=40)["downstream"]
    assert ours.n == 40 and ours.unverifiable == 0
    assert 0.0 < ours.accuracy < 1.0, "the base half-solves the task"
    assert ours.accuracy == builtin.accuracy
    assert ours.samples[0]["gold"].endswith(f"#### {rows[0].gold_or_answer.split()[-1]}")


def test_unverifiable_gold_is_counted_apart() -> None:
    engine = load_engine("toy", "hf", "cpu")
    rows = [
        parse_record({"question": "12+30", "answer": "12+30 is 42", "gold": "42"}, 1, "qa"),
        parse_record({"question": "5+5", "answer": "ten", "gold": "ten"}, 2, "qa"),  # no number to grade by
    ]
    result = evaluate_rows(engine, "f", rows, get_verifier("numeric"), max_new_tokens=48)
    assert result.n == 1 and result.unverifiable == 1
    assert result.accuracy == 1.0, result.samples


@pytest.mark.parametrize(("tuned", "gain"), [(0.75, 25.0), (0.5, 0.0)])
def test_gain_is_measured_against_the_base_on_the_same_file(tuned: float, gain: float) -> None:
    from rewriter.evaluation import SuiteResult

    base = {"file-a": SuiteResult("file-a", 0.5, 4), "add": SuiteResult("add", 1.0, 4)}
    after = {"file-a": SuiteResult("file-a", tuned, 4), "add": SuiteResult("add", 0.75, 4)}
    result = compare(base, after, ["file-a"], ["add"])
    assert result.downstream["file-a"]["gain"] == gain and result.gain == gain
    assert result.retention["add"]["drop"] == 25.0 and result.forgetting_abs == 25.0
