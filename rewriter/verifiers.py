"""The task-consistency gate (DESIGN §2.1): pluggable verifiers that say whether a candidate's final answer equals
the gold answer.

Names: ``math`` (symbolic equivalence with math-verify, in a process pool), ``numeric``, ``exact``, ``choice``
(multiple-choice letter), ``regex``, and the toy suites' ``toy-number`` / ``toy-text``. Answer extraction is part of
the verifier and shared by all of them (:func:`extract_answer`). A gold answer that cannot be parsed gives
``GateStatus.UNVERIFIABLE``: it never silently counts as right or wrong.

    >>> get_verifier("numeric").verify("so we get \\\\boxed{1,000}", "1000").passed
    True
"""

from __future__ import annotations

import atexit
import importlib.util
import inspect
import math
import multiprocessing
import os
import re
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache, partial
from types import FrameType

from rewriter.records import GateStatus, Verdict

# ---------------------------------------------------------------- answer extraction

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


# ---------------------------------------------------------------- the small verifiers (pure functions)

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


def _verdict(equal: bool, predicted: str, gold: str) -> Verdict:
    return Verdict(GateStatus.PASS if equal else GateStatus.FAIL, predicted, gold)


def _unverifiable(gold: str) -> Verdict:
    return Verdict(GateStatus.UNVERIFIABLE, None, None, f"gold answer could not be parsed: {gold[:80]!r}")


def _no_answer(gold: str | None) -> Verdict:
    return Verdict(GateStatus.FAIL, None, gold, "no answer found")


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


# ---------------------------------------------------------------- math: math-verify in a process pool

# math-verify's own timeouts use signal.alarm, which raises "signal only works in main thread" (and so silently
# loses the timeout) anywhere off the main thread. Its calls run here in pool workers, where the item runs on the
# worker's main thread: its own timeouts are off and each item is bounded by our ITIMER_REAL; a worker stuck in C
# code (which signals cannot interrupt) is caught by the parent's budget and killed. One pool per process, shared
# by all math verifiers; workers are spawned, so a script that uses it needs the usual `if __name__ == "__main__"`.
# It cannot start inside a daemonic process (a Celery prefork child): run the gate in a supervised child.
_POOL_WORKERS = min(4, os.cpu_count() or 1)
_START_ALLOWANCE = 30.0  # seconds: spawning a worker and importing sympy takes ~1-2 s on 2 idle cores
_POOL: ProcessPoolExecutor | None = None
_POOL_LOCK = threading.Lock()
# A gold answer with no digit but a bare word of 3+ letters ("no solution", "hello") would parse as a product of
# symbols (h*e*l**2*o): treat it as unparseable rather than as algebra.
_BARE_WORD = re.compile(
    r"(?<![\\A-Za-z])(?!(?:sin|cos|tan|cot|sec|csc|log|ln|exp|sqrt|infty|inf)(?![A-Za-z]))[A-Za-z]{3,}"
)


class _ItemTimeout(BaseException):
    """Raised by SIGALRM in a worker; a BaseException so math-verify's ``except Exception`` cannot swallow it."""


def _raise_timeout(signum: int, frame: FrameType | None) -> None:
    raise _ItemTimeout


def _init_math_worker() -> None:
    import logging

    # It warns that its own timeouts are off: they are meant to be, the item timer below replaces them.
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    # Pay the imports (sympy, the LaTeX grammar: ~0.5 s) once per worker, outside any item's time limit.
    _math_compare(r"\boxed{\frac{1}{2}}", "x^2")
    signal.signal(signal.SIGALRM, _raise_timeout)


def _math_compare(prediction: str, gold: str) -> Verdict:
    from math_verify import parse, verify

    gold_text, marked = gold_answer(gold), extract_answer(gold, last_number=False)
    prose = gold_text is not None and _BARE_WORD.search(re.sub(r"\\text\{[^}]*\}", "", gold_text))
    if gold_text is None or (prose and not re.search(r"\d", gold_text)):
        return _unverifiable(gold)
    # An unmarked gold in prose ("... so 77 plus 57 gives 134") goes to math-verify's own extraction.
    gold_parsed = parse(gold if prose and not marked else f"\\boxed{{{gold_text}}}", parsing_timeout=None)
    if not gold_parsed:
        return _unverifiable(gold)
    found = extract_answer(prediction, last_number=False)
    parsed = parse(f"\\boxed{{{found}}}", parsing_timeout=None) if found else []
    if not parsed:  # no marked answer, or one math-verify cannot read: let its own extraction try the text
        found, parsed = None, parse(prediction, parsing_timeout=None)
    if not parsed:
        return _no_answer(gold_text)
    equal = verify(gold_parsed, parsed, timeout_seconds=None)  # gold first: verify() is not symmetric
    return _verdict(bool(equal), found or str(parsed[-1]), gold_text)


def _math_item(prediction: str, gold: str, timeout: float) -> Verdict:
    """One item in a pool worker, bounded by ``timeout`` seconds of wall time."""
    try:
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            return _math_compare(prediction, gold)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _ItemTimeout:
        return Verdict(GateStatus.FAIL, None, None, "timeout")


def _math_pool() -> ProcessPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            # spawn, not fork: the caller may hold threads (torch, a web server) that a fork would copy mid-state.
            context = multiprocessing.get_context("spawn")
            _POOL = ProcessPoolExecutor(_POOL_WORKERS, mp_context=context, initializer=_init_math_worker)
        return _POOL


def shutdown(pool: ProcessPoolExecutor | None = None) -> None:
    """Kill the math pool's workers (any stuck on an item too); the next math call starts a new pool.

    With ``pool``, only if that is still the current pool (another thread may have replaced it already).
    """
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or (pool is not None and pool is not _POOL):
            return
        current, _POOL = _POOL, None
    for process in list((current._processes or {}).values()):  # no public way to kill a stuck worker
        process.kill()
    current.shutdown(wait=True, cancel_futures=True)


atexit.register(shutdown)


def _check_lengths(predictions: list[str], golds: list[str]) -> None:
    if len(predictions) != len(golds):
        raise ValueError(f"{len(predictions)} predictions but {len(golds)} gold answers")


class Verifier:
    """Gates candidates: ``verify`` one, ``verify_many`` a batch (same verdicts, maybe in parallel)."""

    name: str

    def verify(self, prediction: str, gold: str) -> Verdict:
        raise NotImplementedError

    def verify_many(self, predictions: list[str], golds: list[str]) -> list[Verdict]:
        _check_lengths(predictions, golds)
        return [self.verify(p, g) for p, g in zip(predictions, golds, strict=True)]


@dataclass(frozen=True)
class FunctionVerifier(Verifier):
    """A verifier that is one pure function of (prediction, gold)."""

    name: str
    check: Callable[[str, str], Verdict]

    def verify(self, prediction: str, gold: str) -> Verdict:
        return self.check(prediction, gold)


class MathVerifier(Verifier):
    """Symbolic equivalence with math-verify, ``timeout`` seconds per item (a timeout is a FAIL, reason "timeout")."""

    name = "math"

    def __init__(self, timeout: float = 5.0) -> None:
        if not isinstance(timeout, int | float) or timeout <= 0:
            raise ValueError(f"math verifier: timeout must be a positive number of seconds, got {timeout!r}")
        if importlib.util.find_spec("math_verify") is None:  # else every worker would die and every row FAIL
            raise ValueError(
                "math verifier: the math-verify package is not installed (pip install math-verify)"
            )
        self.timeout = float(timeout)

    def verify(self, prediction: str, gold: str) -> Verdict:
        return self.verify_many([prediction], [gold])[0]

    def verify_many(self, predictions: list[str], golds: list[str]) -> list[Verdict]:
        _check_lengths(predictions, golds)
        verdicts: list[Verdict | None] = [None] * len(predictions)
        # A second try for items lost to a worker that died (OOM, or killed for a neighbour's stuck item).
        for _attempt in range(2):
            todo = [i for i, verdict in enumerate(verdicts) if verdict is None]
            if not todo:
                break
            pool = _math_pool()
            try:
                futures = {i: pool.submit(_math_item, predictions[i], golds[i], self.timeout) for i in todo}
            except RuntimeError:  # BrokenProcessPool or shut down by another thread
                shutdown(pool)
                continue
            budget = _START_ALLOWANCE + (self.timeout + 1.0) * math.ceil(len(todo) / _POOL_WORKERS)
            _, stuck = wait_futures(futures.values(), timeout=budget)
            for i, future in futures.items():
                if future in stuck:
                    verdicts[i] = Verdict(GateStatus.FAIL, None, None, "timeout")
                elif future.exception() is None:
                    verdicts[i] = future.result()
            if stuck or None in (verdicts[i] for i in todo):
                shutdown(pool)
        return [v or Verdict(GateStatus.FAIL, None, None, "verifier crashed") for v in verdicts]


# ---------------------------------------------------------------- the registry


def _numeric(tolerance: float = 1e-6) -> Verifier:
    if not isinstance(tolerance, int | float) or tolerance < 0:
        raise ValueError(f"numeric verifier: tolerance must be a number >= 0, got {tolerance!r}")
    return FunctionVerifier("numeric", partial(verify_numeric, tolerance=tolerance))


def _choice(letters: str = "ABCDE") -> Verifier:
    if not (isinstance(letters, str) and letters.isascii() and letters.isalpha()):
        raise ValueError(f"choice verifier: letters must be ASCII letters like 'ABCDE', got {letters!r}")
    return FunctionVerifier("choice", partial(verify_choice, letters=letters.upper()))


def _regex(pattern: str) -> Verifier:
    try:
        groups = re.compile(pattern).groups
    except (re.error, TypeError) as error:
        raise ValueError(f"regex verifier: pattern {pattern!r} does not compile: {error}") from None
    if groups != 1:
        raise ValueError(f"regex verifier: pattern {pattern!r} must have exactly one group, it has {groups}")
    return FunctionVerifier("regex", partial(verify_regex, pattern=pattern))


def _toy(name: str) -> Verifier:
    from rewriter.suites import VERIFY  # lazily: the task suites name verifiers from this module

    return FunctionVerifier(name, VERIFY[name])


VERIFIERS: dict[str, Callable[..., Verifier]] = {
    "math": MathVerifier,
    "numeric": _numeric,
    "exact": lambda: FunctionVerifier("exact", verify_exact),
    "choice": _choice,
    "regex": _regex,
    "toy-number": partial(_toy, "toy-number"),
    "toy-text": partial(_toy, "toy-text"),
}


def get_verifier(name: str, **options: object) -> Verifier:
    """The verifier called ``name``, configured by ``options`` (refused up front when they cannot work).

    >>> get_verifier("regex", pattern="no group")
    Traceback (most recent call last):
    ...
    ValueError: regex verifier: pattern 'no group' must have exactly one group, it has 0
    """
    if name not in VERIFIERS:
        raise ValueError(f"unknown verifier {name!r}; choose from {', '.join(VERIFIERS)}")
    factory = VERIFIERS[name]
    try:
        inspect.signature(factory).bind(**options)
    except TypeError as error:
        accepted = ", ".join(inspect.signature(factory).parameters) or "no options"
        raise ValueError(f"verifier {name!r}: {error}; it takes: {accepted}") from None
    return factory(**options)
