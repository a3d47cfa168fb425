"""The ``choice`` verifier: the same multiple-choice letter."""

from __future__ import annotations

import re
from functools import lru_cache

from rewriter.records import Verdict
from rewriter.verifiers.base import _no_answer, _unverifiable, _verdict
from rewriter.verifiers.extraction import _clean, extract_answer


@lru_cache(maxsize=16)
def _choice_patterns(letters: str) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    cls = f"[{re.escape(letters.upper())}{re.escape(letters.lower())}]"
    whole = re.compile(rf"\(?({cls})\)?[.):]?")
    start = re.compile(rf"\(?([{re.escape(letters.upper())}])(?:[.):]|\s|$)|\(({cls})\)")
    inside = re.compile(rf"\(([{re.escape(letters.upper())}])\)")
    return whole, start, inside


def choice_letter(text: str, letters: str = "ABCDE") -> str | None:
    """The multiple-choice letter a text picks, upper-cased.

    >>> [choice_letter(t) for t in ["(B)", "B.", "the answer is b", "Answer: c", "D) because", "I pick (E) here"]]
    ['B', 'B', 'B', 'C', 'D', 'E']
    >>> choice_letter("a cat sat") is None
    True
    """
    whole, start, inside = _choice_patterns(letters)
    marked = extract_answer(text, last_number=False)
    for candidate in (marked, _clean(text)):
        if candidate and (match := whole.fullmatch(_clean(candidate))):
            return match.group(1).upper()
    if marked and (match := start.match(marked)):
        return (match.group(1) or match.group(2)).upper()
    # At the very start only with a closing mark: "B. because" or "(B)", but not "A cat".
    if (match := start.match(text.strip())) and (match.group(2) or text.strip()[1:2] in ".)"):
        return (match.group(1) or match.group(2)).upper()
    if found := inside.findall(text):
        return str(found[-1]).upper()
    return None


def verify_choice(prediction: str, gold: str, *, letters: str = "ABCDE") -> Verdict:
    """The same multiple-choice letter.

    >>> verify_choice("The answer is (C).", "C").passed, verify_choice("Answer: a", "(B)").passed
    (True, False)
    """
    gold_letter = choice_letter(gold, letters)
    if gold_letter is None:
        return _unverifiable(gold)
    found = choice_letter(prediction, letters)
    if found is None:
        return _no_answer(gold_letter)
    return _verdict(found == gold_letter, found, gold_letter)
