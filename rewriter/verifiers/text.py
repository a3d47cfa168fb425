"""The text verifiers: ``exact`` (the extracted answer, normalised) and ``regex`` (a pattern's group 1)."""

from __future__ import annotations

import re

from rewriter.records import Verdict
from rewriter.verifiers.base import _no_answer, _unverifiable, _verdict
from rewriter.verifiers.extraction import _clean, extract_answer, gold_answer


def normalise_text(text: str) -> str:
    """Strip, casefold, collapse whitespace, drop a trailing period.

    >>> normalise_text("  New   York. ")
    'new york'
    """
    return " ".join(text.split()).casefold().rstrip(".").rstrip()


def verify_exact(prediction: str, gold: str) -> Verdict:
    """The extracted answer (or the whole prediction) equals the gold after :func:`normalise_text`.

    >>> verify_exact("The answer is Paris.", "paris").passed, verify_exact("Lyon", "Paris").passed
    (True, False)
    """
    gold_text = gold_answer(gold)
    if gold_text is None:
        return _unverifiable(gold)
    found = extract_answer(prediction, last_number=False) or _clean(prediction)
    if not found:
        return _no_answer(gold_text)
    return _verdict(normalise_text(found) == normalise_text(gold_text), found, gold_text)


def verify_regex(prediction: str, gold: str, *, pattern: str) -> Verdict:
    """Group 1 of the last match of ``pattern``, in both texts, equal after :func:`normalise_text`.

    >>> verify_regex("... ANSWER: 12 kg", "ANSWER: 12 KG", pattern=r"ANSWER:\\s*(.+)").passed
    True
    """
    compiled = re.compile(pattern)
    gold_found = [m.group(1) for m in compiled.finditer(gold)]
    if not gold_found or not gold_found[-1].strip():
        return _unverifiable(gold)
    found = [m.group(1) for m in compiled.finditer(prediction)]
    if not found:
        return _no_answer(gold_found[-1])
    return _verdict(normalise_text(found[-1]) == normalise_text(gold_found[-1]), found[-1], gold_found[-1])
