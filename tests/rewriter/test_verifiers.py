"""The task-consistency gate: a table of verdicts across verifiers, the math pool's timeouts and recovery, and
batch verdicts that agree with single ones."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import time
from typing import Any

import pytest

from rewriter import verifiers
from rewriter.records import GateStatus
from rewriter.verifiers import extract_answer, get_verifier, symbolic

P, F, U = GateStatus.PASS, GateStatus.FAIL, GateStatus.UNVERIFIABLE
GSM8K_GOLD = (
    "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
    "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72"
)

# (verifier, options, prediction, gold, expected status)
CASES: list[tuple[str, dict[str, Any], str, str, GateStatus]] = [
    # math: symbolic equivalence
    ("math", {}, r"so $x = \boxed{\frac{1}{2}}$", "0.5", P),
    ("math", {}, "The answer is 0.5.", r"\frac{1}{2}", P),
    ("math", {}, r"\boxed{1,000}", "1000", P),
    ("math", {}, r"\boxed{\frac{\sqrt{2}}{2}}", r"\frac{1}{\sqrt{2}}", P),
    ("math", {}, r"we get \boxed{\boxed{\frac{3}{4}}} in the end", "0.75", P),
    ("math", {}, r"\boxed{5 \text{ cm}}", "5", P),
    ("math", {}, r"\boxed{[1, 2)}", "[1,2)", P),
    ("math", {}, r"\boxed{(1, 2]}", "[1,2)", F),
    ("math", {}, r"\boxed{(x+1)^2}", "x^2+2x+1", P),
    ("math", {}, "48/2 = 24, 24 + 48 = 72\n#### 72", "72", P),
    ("math", {}, r"\boxed{7}", "8", F),
    ("math", {}, "The answer is $2.5$ because it is half of 5.", "5/2", P),
    ("math", {}, "I do not know.", "5", F),
    ("math", {}, r"\boxed{5}", "no solution", U),
    ("math", {}, r"\boxed{5}", "   ", U),
    ("math", {}, "3", r"Adding gives \boxed{3}.", P),
    ("math", {}, "34+57: 4+7=11 3+5+1=9 #91", "91", P),
    (
        "math",
        {},
        "77+57: 7+7=14 7+5+1=13 #134",
        "Kim has 77 cups and finds 57 more, so 77 plus 57 gives 134",
        P,
    ),
    # math on GSM8K-style "#### N" and MATH-style \boxed{} answers, each as gold and as candidate; the gold can be a
    # whole GSM8K solution with its <<calculator>> annotations
    ("math", {}, r"So she sold \boxed{72} clips.", GSM8K_GOLD, P),
    ("math", {}, "48 + 24 = 72\n#### 72", GSM8K_GOLD, P),
    ("math", {}, "#### 73", GSM8K_GOLD, F),
    ("math", {}, "#### 72", r"so the total is \boxed{72}", P),
    ("math", {}, r"\boxed{1234}", "#### 1,234", P),
    ("math", {}, r"\boxed{1{,}234}", "#### 1234", P),
    ("math", {}, "#### 1,234", r"\boxed{1{,}234}", P),
    ("math", {}, "The answer is 1234567.", "#### 1,234,567", P),
    ("math", {}, r"\boxed{1235}", "#### 1,234", F),
    ("math", {}, r"\boxed{18}", "#### $18", P),
    ("math", {}, r"\boxed{\$18}", "#### 18", P),
    ("math", {}, "#### $18.00", "#### 18", P),
    ("math", {}, "#### 18.5", r"\boxed{\$18.50}", P),
    ("math", {}, r"\boxed{\frac{3}{4}}", "#### 0.75", P),
    ("math", {}, "#### 3/4", r"\boxed{\dfrac{3}{4}}", P),
    ("math", {}, "#### 0.75", r"\boxed{\tfrac34}", P),
    ("math", {}, "#### 1/3", r"\boxed{\frac{1}{2}}", F),
    ("math", {}, r"\boxed{-5}", "#### -5", P),
    ("math", {}, r"\boxed{5}", "#### -5", F),
    ("math", {}, "#### 5 apples", "#### 5", P),
    ("math", {}, r"\boxed{12\%}", "#### 12", P),
    # numeric: numbers with separators, currency, percent, fractions, units, tolerance
    ("numeric", {}, "It costs 1,000 dollars, so the answer is 1,000.", "1000", P),
    ("numeric", {}, "The answer is $5.", "5", P),
    ("numeric", {}, "The answer is 50%.", "50", P),
    ("numeric", {}, "The answer is 50%.", "0.5", P),
    ("numeric", {}, "#### 1/2", "0.5", P),
    ("numeric", {}, r"\boxed{\frac{3}{4}}", "0.75", P),
    ("numeric", {}, "The answer is 7 apples.", "7", P),
    ("numeric", {}, "3.0", "3", P),
    ("numeric", {}, "So the answer is 12, which is even.", "12", P),
    ("numeric", {}, "0.333", "1/3", F),
    ("numeric", {"tolerance": 0.01}, "0.333", "1/3", P),
    ("numeric", {}, "-4", "4", F),
    ("numeric", {}, "no number at all", "3", F),
    ("numeric", {}, "77+57: 7+7=14 7+5+1=13 #134", "so 77 plus 57 gives 134 cups", P),
    ("numeric", {}, "12", "twelve", U),
    # exact: normalised strings
    ("exact", {}, "The answer is Paris.", "paris", P),
    ("exact", {}, "  New   York. ", "new york", P),
    ("exact", {}, "London", "Paris", F),
    ("exact", {}, "anything", "   ", U),
    # choice: multiple-choice letters in their many spellings
    ("choice", {}, "(B)", "B", P),
    ("choice", {}, "B.", "b", P),
    ("choice", {}, "After checking each option, the answer is B", "(B)", P),
    ("choice", {}, "Reasoning...\nAnswer: b", "B", P),
    ("choice", {}, "The answer is (C) because it is larger.", "B", F),
    ("choice", {}, "A cat would not do that.", "A", F),
    ("choice", {}, "(B)", "banana", U),
    ("choice", {"letters": "ABCDEFGH"}, "Answer: G", "G", P),
    # regex: one group extracted from both sides
    ("regex", {"pattern": r"ANSWER:\s*(\w+)"}, "so... ANSWER: Yes", "ANSWER: yes", P),
    ("regex", {"pattern": r"ANSWER:\s*(\w+)"}, "ANSWER: no", "ANSWER: yes", F),
    ("regex", {"pattern": r"ANSWER:\s*(\w+)"}, "ANSWER: yes", "yes", U),
    # toy suites: house style and the expert's prose style both count
    ("toy-number", {}, "34+57: 4+7=11 3+5+1=9 #91", "91", P),
    (
        "toy-number",
        {},
        "Kim starts with 77 cups and finds 57 more, so 77 plus 57 gives 134. The result is 134.",
        "134",
        P,
    ),
    ("toy-number", {}, "Kim starts with 77 cups and finds 57 more. The result is 133.", "134", F),
    ("toy-text", {}, "reverse abc: c b a #cba", "cba", P),
    ("toy-number", {}, "#91", "", U),
]


def _case_id(case: tuple[str, dict[str, Any], str, str, GateStatus]) -> str:
    name, options, prediction, gold, status = case
    return f"{name}{options or ''}:{prediction[:24]!r}~{gold[:16]!r}->{status.value}"


@pytest.fixture(scope="module", autouse=True)
def _stop_math_pool() -> Any:
    yield
    verifiers.shutdown()


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_verdict_table(case: tuple[str, dict[str, Any], str, str, GateStatus]) -> None:
    name, options, prediction, gold, status = case
    verdict = get_verifier(name, **options).verify(prediction, gold)
    assert verdict.status is status, verdict
    if status is U:
        assert verdict.predicted is None and "could not be parsed" in verdict.reason
    if status is P:
        assert verdict.passed and verdict.predicted is not None and verdict.gold is not None


def test_verify_many_agrees_with_verify() -> None:
    by_verifier: dict[tuple[str, tuple[tuple[str, Any], ...]], list[tuple[str, str]]] = {}
    for name, options, prediction, gold, _ in CASES:
        by_verifier.setdefault((name, tuple(options.items())), []).append((prediction, gold))
    for (name, items), pairs in by_verifier.items():
        verifier = get_verifier(name, **dict(items))
        many = verifier.verify_many([p for p, _ in pairs], [g for _, g in pairs])
        assert many == [verifier.verify(p, g) for p, g in pairs], name
    with pytest.raises(ValueError, match="2 predictions but 1 gold"):
        get_verifier("exact").verify_many(["a", "b"], ["a"])


def test_math_timeout_is_a_fail_without_hanging_and_the_pool_survives() -> None:
    verifier = get_verifier("math", timeout=0.5)
    verifier.verify("1", "1")  # start the pool outside the timed part
    started = time.monotonic()
    # expanding two 3000th powers takes sympy minutes
    verdicts = verifier.verify_many([r"\boxed{(x+2)^{3000}}", r"\boxed{2}"], ["(x+1)^{3000}", "2"])
    assert time.monotonic() - started < 10
    assert (verdicts[0].status, verdicts[0].reason) == (F, "timeout")
    assert verdicts[1].passed
    assert verifier.verify(r"\boxed{\frac{2}{4}}", "0.5").passed  # the worker that timed out still serves


def test_math_pool_is_created_once_and_recovers_from_dead_workers() -> None:
    verifier = get_verifier("math")
    assert verifier.verify("4", "4").passed
    pool = symbolic._POOL
    assert verifier.verify("5", "5").passed and symbolic._POOL is pool  # reused, not one per call
    assert pool is not None and pool._processes
    for worker in list(
        pool._processes.values()
    ):  # as the OOM killer would (only ours: other tests' children live)
        worker.kill()
    assert verifier.verify_many(["6", "7"], ["6", "8"])[0].passed  # a fresh pool answers
    verifiers.shutdown()
    assert symbolic._POOL is None and verifier.verify("9", "9").passed


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        (r"first \boxed{1} then \boxed{\frac{1}{\sqrt{2}}}.", r"\frac{1}{\sqrt{2}}"),
        (r"\boxed{a{b{c}}d}", "a{b{c}}d"),
        ("step\n#### 1,234", "1,234"),
        ("So the answer is 42. Check: fine.", "42"),
        ("the answer is 12, since 3 * 4 = 12", "12"),
        (r"The answer is $\frac{1}{2}$ as shown", r"\frac{1}{2}"),
        ("The final answer is: $-3$", "-3"),
        ("**Answer:** 17", "17"),
        ("Ann has 5 pens. The result is 5.", "5"),
        ("12+5: 2+5=7 1+0=1 #17", "17"),
        ("there were 3 cats and 12 dogs", "12"),
        ("no digits here", None),
    ],
)
def test_extract_answer(text: str, answer: str | None) -> None:
    assert extract_answer(text) == answer


def test_options_are_checked_up_front() -> None:
    with pytest.raises(ValueError, match="unknown verifier 'maths'; choose from math"):
        get_verifier("maths")
    with pytest.raises(ValueError, match="it takes: tolerance"):
        get_verifier("numeric", tol=0.1)
    with pytest.raises(ValueError, match="tolerance must be a finite number >= 0"):
        get_verifier("numeric", tolerance=-1)
    with pytest.raises(ValueError, match="tolerance must be a finite number >= 0"):
        get_verifier("numeric", tolerance=float("nan"))
    with pytest.raises(ValueError, match="exactly one group"):
        get_verifier("regex", pattern=r"(a)(b)")
    for timeout in (0, -1, float("nan"), float("inf")):  # NaN used to pass and fail every item as "timeout"
        with pytest.raises(ValueError, match=r"number of seconds in \(0, 3600"):
            get_verifier("math", timeout=timeout)
    assert set(verifiers.VERIFIERS) >= {
        "math",
        "numeric",
        "exact",
        "choice",
        "regex",
        "toy-number",
        "toy-text",
    }


def test_module_doctests_pass() -> None:
    assert doctest.testmod(verifiers).failed == 0
    for info in pkgutil.iter_modules(verifiers.__path__):
        assert doctest.testmod(importlib.import_module(f"rewriter.verifiers.{info.name}")).failed == 0
