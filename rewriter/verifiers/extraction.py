"""Answer extraction, shared by every verifier: the final answer of a solution, and the gold's marked answer."""

from __future__ import annotations

import re

_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")
_HASHES = re.compile(r"####\s*(.+?)\s*$", re.MULTILINE)
_ANSWER_IS = re.compile(r"\banswer\s+is\s*:?\s*(.+?)(?:\.\s|\.?\s*$|\n)", re.IGNORECASE)
_ANSWER_COLON = re.compile(r"^[\s*]*(?:final\s+)?answer[\s*]*:\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)
_RESULT_IS = re.compile(r"\bresult\s+is\s*:?\s*(.+?)(?:\.\s|\.?\s*$|\n)", re.IGNORECASE)
_HOUSE = re.compile(r"#\s*([^\s#]+)\s*$")  # the toy house style ends "... #933"
_LAST_NUMBER = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?(?:/\d+)?")


def last_boxed(text: str) -> str | None:
    r"""The content of the last complete ``\boxed{...}`` (or ``\fbox{...}``), nested braces included.

    >>> last_boxed(r"first \boxed{1}, then \boxed{\frac{1}{\sqrt{2}}}")
    '\\frac{1}{\\sqrt{2}}'
    >>> last_boxed(r"\boxed{unclosed") is None
    True
    """
    for match in reversed(list(_BOX.finditer(text))):
        depth = 1
        for end in range(match.end(), len(text)):
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            if depth == 0:
                return text[match.end() : end]
    return None


_CLAUSE_END = re.compile(r",\s|;\s|\s(?:because|since|as|so|which|for)\b", re.IGNORECASE)


def _clean(answer: str) -> str:
    return answer.strip().strip("*").strip().strip("$").strip().rstrip(".").strip()


def _first_clause(answer: str) -> str:
    """ "$x$ since ..." -> "x"; "12, which is even" -> "12": a sentence's answer without its justification."""
    answer = answer.strip().strip("*").strip()
    if math_span := re.match(r"\$([^$]+)\$", answer):
        return math_span.group(1)
    return _CLAUSE_END.split(answer, maxsplit=1)[0]


def extract_answer(text: str, *, last_number: bool = True) -> str | None:
    r"""The final answer of a solution: the last ``\boxed{}``, else ``#### x``, "the answer is x", "Answer: x",
    "The result is x", the toy house style ``... #x``, and (if ``last_number``) the last number.

    >>> extract_answer(r"so $x = \boxed{\frac{1}{2}}$.")
    '\\frac{1}{2}'
    >>> [extract_answer(t) for t in ["72\n#### 72", "the answer is $3.5$ since", "The result is 134.", "4+7=11 #11"]]
    ['72', '3.5', '134', '11']
    >>> extract_answer("we had 3 bags of 1,000 each"), extract_answer("no digits")
    ('1,000', None)
    """
    if (boxed := last_boxed(text)) is not None:
        return _clean(boxed) or None
    if found := _HASHES.findall(text):
        return _clean(found[-1]) or None
    for pattern in (_ANSWER_IS, _ANSWER_COLON, _RESULT_IS):
        if found := pattern.findall(text):
            return _clean(_first_clause(found[-1])) or None
    if house := _HOUSE.search(text.strip()):
        return _clean(house.group(1)) or None
    if last_number and (numbers := _LAST_NUMBER.findall(text)):
        return str(numbers[-1])
    return None


def gold_answer(gold: str) -> str | None:
    """The gold's marked answer if it has one (a gold can be a whole solution), else the gold itself.

    >>> gold_answer("Ann has 5 pens. The result is 5.")
    '5'
    >>> gold_answer(" 1,000 ")
    '1,000'
    """
    return extract_answer(gold, last_number=False) or _clean(gold) or None
