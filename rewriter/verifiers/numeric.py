"""The ``numeric`` verifier: the extracted numbers equal within a relative tolerance (percentages, fractions and
``\\frac`` read)."""

from __future__ import annotations

import re
from fractions import Fraction

from rewriter.records import Verdict
from rewriter.verifiers.base import _no_answer, _unverifiable, _verdict
from rewriter.verifiers.extraction import extract_answer, gold_answer

_NUMBER = re.compile(r"(-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)(?:\s*/\s*(\d+(?:\.\d+)?))?\s*(%?)")
_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")


def parse_number(text: str) -> tuple[Fraction, ...] | None:
    r"""The values a numeric answer can mean: one, or two for a percentage (``50%`` is 50 or 0.5).

    Thousands separators, currency signs, units and a leading ``x =`` are ignored; fractions and ``\frac`` are read.

    >>> parse_number("$1,000.50"), parse_number(r"x = \frac{1}{2} cm"), parse_number("seven")
    ((Fraction(2001, 2),), (Fraction(1, 2),), None)
    >>> parse_number("50%")
    (Fraction(50, 1), Fraction(1, 2))
    """
    text = _FRAC.sub(r"(\1)/(\2)", text).replace("\u2212", "-").replace("\\%", "%")
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)
    text = re.sub(r"[$()\s]|\\[,!;$ ]|\\text\{[^}]*\}", "", text.rsplit("=", 1)[-1])
    if not (matches := list(_NUMBER.finditer(text))):
        return None
    match = matches[-1]  # the last: a gold that is a whole solution ends with its answer
    value = Fraction(match.group(1))
    if match.group(2):
        if Fraction(match.group(2)) == 0:
            return None
        value /= Fraction(match.group(2))
    return (value, value / 100) if match.group(3) else (value,)


def verify_numeric(prediction: str, gold: str, *, tolerance: float = 1e-6) -> Verdict:
    """Pass when ``|p - g| <= tolerance * max(1, |g|)`` for the extracted numbers.

    >>> verify_numeric("The answer is $5.", "5.00").status
    <GateStatus.PASS: 'pass'>
    >>> verify_numeric("#### 1/2", "0.5").passed, verify_numeric("it is 0.49", "0.5").passed
    (True, False)
    >>> verify_numeric("42", "n/a").status
    <GateStatus.UNVERIFIABLE: 'unverifiable'>
    """
    gold_text = gold_answer(gold)
    gold_values = parse_number(gold_text) if gold_text else None
    if gold_text is None or gold_values is None:
        return _unverifiable(gold)
    found = extract_answer(prediction)
    values = parse_number(found) if found else None
    if found is None or values is None:
        return _no_answer(gold_text)
    tol = Fraction(tolerance)
    equal = any(abs(p - g) <= tol * max(Fraction(1), abs(g)) for p in values for g in gold_values)
    return _verdict(equal, found, gold_text)
