"""The verifiers by name: :data:`VERIFIERS` (name → factory) and :func:`get_verifier`, which refuses options that
cannot work before any row is gated."""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable
from functools import partial

from rewriter.verifiers.base import FunctionVerifier, Verifier
from rewriter.verifiers.choice import verify_choice
from rewriter.verifiers.numeric import verify_numeric
from rewriter.verifiers.symbolic import MathVerifier
from rewriter.verifiers.text import verify_exact, verify_regex


def _numeric(tolerance: float = 1e-6) -> Verifier:
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or not 0 <= tolerance < math.inf:
        raise ValueError(f"numeric verifier: tolerance must be a finite number >= 0, got {tolerance!r}")
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
    >>> get_verifier("numeric", tolerance=float("nan"))
    Traceback (most recent call last):
    ...
    ValueError: numeric verifier: tolerance must be a finite number >= 0, got nan
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
