"""The task-consistency gate (DESIGN §2.1): pluggable verifiers that say whether a candidate's final answer equals
the gold answer.

Names: ``math`` (symbolic equivalence with math-verify, in a process pool), ``numeric``, ``exact``, ``choice``
(multiple-choice letter), ``regex``, and the toy suites' ``toy-number`` / ``toy-text``. Answer extraction is part of
the verifier and shared by all of them (:func:`extract_answer`). A gold answer that cannot be parsed gives
``GateStatus.UNVERIFIABLE``: it never silently counts as right or wrong.

    >>> get_verifier("numeric").verify("so we get \\\\boxed{1,000}", "1000").passed
    True

Modules: ``extraction`` (the final answer of a text), ``base`` (:class:`Verifier`), one module per family
(``numeric``, ``text``: exact and regex, ``choice``, ``symbolic``: math), and ``registry`` (the verifiers by name).
Every public name is importable from ``rewriter.verifiers``.
"""

from __future__ import annotations

from rewriter.verifiers.base import FunctionVerifier, Verifier
from rewriter.verifiers.choice import choice_letter, verify_choice
from rewriter.verifiers.extraction import extract_answer, gold_answer, last_boxed
from rewriter.verifiers.numeric import parse_number, verify_numeric
from rewriter.verifiers.registry import VERIFIERS, get_verifier
from rewriter.verifiers.symbolic import MathVerifier, shutdown
from rewriter.verifiers.text import normalise_text, verify_exact, verify_regex

__all__ = [
    "VERIFIERS",
    "FunctionVerifier",
    "MathVerifier",
    "Verifier",
    "choice_letter",
    "extract_answer",
    "get_verifier",
    "gold_answer",
    "last_boxed",
    "normalise_text",
    "parse_number",
    "shutdown",
    "verify_choice",
    "verify_exact",
    "verify_numeric",
    "verify_regex",
]
