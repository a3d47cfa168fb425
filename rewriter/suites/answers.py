"""Answer extraction and checking for the toy suites: the answer is found in every register.

House style ends ``... #933`` (as does GSM8K's ``#### 933``); prose ends ``The result is 933.``; the other expert
registers (``rewriter.suites.styles.REGISTERS``) give ``\\boxed{933}``, ``Answer: 933`` or ``the answer is 933``.
A free answer falls back to the last number.
"""

from __future__ import annotations

import re

from rewriter.records import GateStatus, Verdict

_HOUSE = re.compile(r"#\s*([^\s#]+)\s*$")
_PROSE = re.compile(r"[Tt]he result is\s+([^\s.]+)")
_BOXED = re.compile(r"\\boxed\{\s*([^{}\s]+)\s*\}")
_STATED = re.compile(r"(?:[Aa]nswer is|Answer:)\s*\$?\**\s*(-?\d+)")
_NUMBER = re.compile(r"-?\d+")


def extract(text: str) -> str | None:
    r"""The final answer of a toy solution in any register.

    >>> extract("7+6=13 4+8+1=13 3+5+1=9 #933")
    '933'
    >>> extract("Kim starts with 77 cups, so 77 plus 57 gives 134. The result is 134.")
    '134'
    >>> extract("We need $77 + 57$, so $\\boxed{134}$.")
    '134'
    >>> extract("The answer is 70, since 77 - 7 = 70 (Kim starts with 77 cups).")
    '70'
    >>> extract("no answer here") is None
    True
    """
    text = text.strip()
    if match := _HOUSE.search(text):
        return match.group(1)
    for pattern in (_BOXED, _PROSE, _STATED):
        if found := pattern.findall(text):
            return str(found[-1])
    numbers = _NUMBER.findall(text)
    return numbers[-1] if numbers else None


def _canonical(answer: str, numeric: bool) -> str | None:
    answer = answer.strip().rstrip(".").strip()
    if not numeric:
        return answer.lower() or None
    return str(int(answer)) if re.fullmatch(r"-?\d+", answer) else None


def verify(prediction: str, gold: str, *, numeric: bool = True) -> Verdict:
    """Gate a toy candidate: its extracted answer must equal the gold answer.

    >>> verify("34+57: 4+7=11 3+5+1=9 #91", "91").passed
    True
    >>> verify("The result is 90.", "91").passed
    False
    """
    gold_value = _canonical(extract(gold) or gold, numeric) if gold else None
    if gold_value is None:
        return Verdict(GateStatus.UNVERIFIABLE, None, None, "gold answer could not be parsed")
    found = extract(prediction)
    predicted = _canonical(found, numeric) if found is not None else None
    if predicted is None:
        return Verdict(GateStatus.FAIL, found, gold_value, "no answer found")
    status = GateStatus.PASS if predicted == gold_value else GateStatus.FAIL
    return Verdict(status, predicted, gold_value)


def verify_number(prediction: str, gold: str) -> Verdict:
    return verify(prediction, gold, numeric=True)


def verify_text(prediction: str, gold: str) -> Verdict:
    return verify(prediction, gold, numeric=False)
