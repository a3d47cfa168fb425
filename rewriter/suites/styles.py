"""The toy world's registers: the backbone's terse house style, the experts' verbose prose, and the other expert
registers of ``downstream-styles`` (``REGISTERS``: terse, numbered steps, ``\\boxed{}``, chat, GSM8K, answer-first).

House style is a scratchpad then `` #answer``; prose ends with ``The result is answer.`` Verifiers accept them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


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


# -- expert registers (issue 15) ---------------------------------------------------------------------------------
# A team's expert answers come in its own style. Each register below writes the same solved word problem; the
# verifiers (rewriter.suites.answers) find the final answer in every one of them (tests/rewriter/test_styles.py).


@dataclass(frozen=True)
class Worked:
    """The facts of one solved word problem, from which every register writes its solution."""

    name: str
    a: int
    op: str  # "+" or "-"
    b: int
    unit: str  # what is counted: "cups", "grams of flour"
    phrase: str  # the question's verb phrase, e.g. "finds 57 more"

    @property
    def result(self) -> int:
        return self.a + self.b if self.op == "+" else self.a - self.b

    @property
    def word(self) -> str:
        return "plus" if self.op == "+" else "minus"


def register_prose(w: Worked) -> str:
    """The toy world's original expert register.

    >>> register_prose(Worked("kim", 77, "+", 57, "cups", "finds 57 more"))
    'Kim starts with 77 cups and finds 57 more, so 77 plus 57 gives 134. The result is 134.'
    """
    return (
        f"{w.name.capitalize()} starts with {w.a} {w.unit} and {w.phrase}, so {w.a} {w.word} {w.b} gives "
        f"{w.result}. " + prose_result(w.result)
    )


def register_terse(w: Worked) -> str:
    """Just the equation.

    >>> register_terse(Worked("kim", 77, "-", 7, "cups", "sells 7"))
    '77-7=70'
    """
    return f"{w.a}{w.op}{w.b}={w.result}"


def register_steps(w: Worked) -> str:
    """Numbered steps, then ``Answer: x``.

    >>> print(register_steps(Worked("kim", 77, "+", 57, "cups", "finds 57 more")))
    Step 1: Kim has 77 cups.
    Step 2: Kim finds 57 more, so we compute 77 + 57.
    Step 3: 77 + 57 = 134.
    Answer: 134
    """
    name = w.name.capitalize()
    return (
        f"Step 1: {name} has {w.a} {w.unit}.\nStep 2: {name} {w.phrase}, so we compute {w.a} {w.op} {w.b}.\n"
        f"Step 3: {w.a} {w.op} {w.b} = {w.result}.\nAnswer: {w.result}"
    )


def register_boxed(w: Worked) -> str:
    r"""LaTeX, the answer in ``\boxed{}``.

    >>> register_boxed(Worked("kim", 77, "+", 57, "cups", "finds 57 more"))
    'We need $77 + 57$. Computing, $77 + 57 = 134$. Therefore the answer is $\\boxed{134}$.'
    """
    return (
        f"We need ${w.a} {w.op} {w.b}$. Computing, ${w.a} {w.op} {w.b} = {w.result}$. "
        f"Therefore the answer is $\\boxed{{{w.result}}}$."
    )


def register_chat(w: Worked) -> str:
    """A chat assistant's reply.

    >>> register_chat(Worked("kim", 77, "-", 7, "cups", "sells 7"))
    "Sure! Let's work it out. Kim had 77 cups and sells 7, so that's 77 - 7 = 70. **Kim has 70 cups.** Hope that helps!"
    """
    name = w.name.capitalize()
    return (
        f"Sure! Let's work it out. {name} had {w.a} {w.unit} and {w.phrase}, so that's {w.a} {w.op} {w.b} = "
        f"{w.result}. **{name} has {w.result} {w.unit}.** Hope that helps!"
    )


def register_gsm8k(w: Worked) -> str:
    """GSM8K's layout: calculator annotations, then ``#### answer``.

    >>> print(register_gsm8k(Worked("kim", 77, "+", 57, "cups", "finds 57 more")))
    Kim has 77 + 57 = <<77+57=134>>134 cups.
    #### 134
    """
    return (
        f"{w.name.capitalize()} has {w.a} {w.op} {w.b} = <<{w.a}{w.op}{w.b}={w.result}>>{w.result} {w.unit}.\n"
        f"#### {w.result}"
    )


def register_answer_first(w: Worked) -> str:
    """The answer first, then the reason: the last number is not the answer, so extraction must not take it.

    >>> register_answer_first(Worked("kim", 77, "-", 7, "cups", "sells 7"))
    'The answer is 70, since 77 - 7 = 70 (Kim starts with 77 cups and sells 7).'
    """
    return (
        f"The answer is {w.result}, since {w.a} {w.op} {w.b} = {w.result} "
        f"({w.name.capitalize()} starts with {w.a} {w.unit} and {w.phrase})."
    )


REGISTERS: dict[str, Callable[[Worked], str]] = {
    "prose": register_prose,
    "terse": register_terse,
    "steps": register_steps,
    "boxed": register_boxed,
    "chat": register_chat,
    "gsm8k": register_gsm8k,
    "answer-first": register_answer_first,
}
# The split for the style-robust backbone (issue 15): the reference skill is to be pretrained on SEEN_REGISTERS; the
# others are held out and measure whether re-solving from a reference generalises to a style never seen. The
# committed backbone predates this: its reference skill saw `prose` only, so today every other register is unseen.
SEEN_REGISTERS = ("prose", "terse", "steps", "gsm8k")
HELD_OUT_REGISTERS = ("boxed", "chat", "answer-first")
