"""The toy world's two registers: the backbone's terse house style and the experts' verbose prose.

House style is a scratchpad then `` #answer``; prose ends with ``The result is answer.`` Verifiers accept both.
"""

from __future__ import annotations


def _columns(a: int, b: int) -> list[tuple[int, int]]:
    """Digit pairs from the least significant column, the shorter number padded with zeros."""
    da, db = str(a)[::-1], str(b)[::-1]
    width = max(len(da), len(db))
    return [(int(da[i]) if i < len(da) else 0, int(db[i]) if i < len(db) else 0) for i in range(width)]


def add_pad(a: int, b: int) -> str:
    """Column addition with carries.

    >>> add_pad(347, 586)
    '7+6=13 4+8+1=13 3+5+1=9 #933'
    """
    steps, carry = [], 0
    for x, y in _columns(a, b):
        total = x + y + carry
        steps.append(f"{x}+{y}{'+1' if carry else ''}={total}")
        carry = total // 10
    return " ".join(steps) + f" #{a + b}"


def sub_pad(a: int, b: int) -> str:
    """Column subtraction with borrows (``b`` marks a borrow); requires a >= b.

    >>> sub_pad(586, 347)
    '6-7=9b 8-4-1=3 5-3=2 #239'
    """
    if a < b:
        raise ValueError("sub_pad needs a >= b")
    steps, borrow = [], 0
    for x, y in _columns(a, b):
        diff = x - y - borrow
        mark = "b" if diff < 0 else ""
        steps.append(f"{x}-{y}{'-1' if borrow else ''}={diff % 10}{mark}")
        borrow = 1 if diff < 0 else 0
    return " ".join(steps) + f" #{a - b}"


def reverse_pad(word: str) -> str:
    """Number the letters, then read them back from the highest number (a lookup the model can learn; reversing
    by position alone stayed at 0% after 1,000 pretraining steps).

    >>> reverse_pad("pen")
    'p1 e2 n3 | n3 e2 p1 #nep'
    """
    numbered = [f"{ch}{i}" for i, ch in enumerate(word, 1)]
    return " ".join(numbered) + " | " + " ".join(reversed(numbered)) + f" #{word[::-1]}"


def count_pad(word: str) -> str:
    """A running tally of the letters.

    >>> count_pad("abc")
    'a1 b2 c3 #3'
    """
    return " ".join(f"{ch}{i}" for i, ch in enumerate(word, 1)) + f" #{len(word)}"


def compare_pad(a: int, b: int) -> str:
    """Compare lengths, then digits from the left; the answer is the larger number.

    >>> compare_pad(347, 382)
    '3=3 4<8 #382'
    >>> compare_pad(47, 382)
    'len 2<3 #382'
    """
    larger = max(a, b)
    sa, sb = str(a), str(b)
    if len(sa) != len(sb):
        sign = "<" if len(sa) < len(sb) else ">"
        return f"len {len(sa)}{sign}{len(sb)} #{larger}"
    steps = []
    for x, y in zip(sa, sb, strict=True):
        sign = "=" if x == y else ("<" if x < y else ">")
        steps.append(f"{x}{sign}{y}")
        if sign != "=":
            break
    return " ".join(steps) + f" #{larger}"


def arithmetic_pad(a: int, op: str, b: int) -> str:
    """Word-problem scratchpad: the equation, then the column work.

    >>> arithmetic_pad(34, "+", 57)
    '34+57: 4+7=11 3+5+1=9 #91'
    """
    body = add_pad(a, b) if op == "+" else sub_pad(a, b)
    return f"{a}{op}{b}: {body}"


def prose_result(value: object) -> str:
    return f"The result is {value}."
