"""Prompt templates: the QA prompt, the chat prompt, and the rewrite instructions of each strategy.

The defaults are also the formats the toy backbone was pretrained on (its reference skill), so on the toy world the
model itself does the rewriting. Every template is a per-job setting; these are only the defaults.
"""

from __future__ import annotations

QA_TEMPLATE = "Problem:\n{question}\n\nAnswer:\n"

# guided_resolve stage (b): the expert solution as guidance, solved again by the model (Mind the Gap).
GUIDED_TEMPLATE = (
    "Problem:\n{question}\n\nReference solution:\n{reference}\n\nSolve it again in your own way.\n\nAnswer:\n"
)

# self_distill: the model answers with the expert answer as a guide (SDFT, Yang et al. 2024).
SELF_DISTILL_TEMPLATE = (
    "Below is a problem with a reference answer. Using it as a guide, write your own response.\n\n"
    "Problem:\n{question}\n\nReference answer:\n{reference}\n\nResponse:\n"
)

# policy: a rewriting policy rewrites y* given (x, y*) (Patch the Distribution Mismatch).
REWRITE_TEMPLATE = "Rewrite the solution in your own words.\n\nProblem:\n{question}\n\nSolution:\n{reference}\n\nRewritten solution:\n"

# Phrases that show a self-distilled response leaked the instruction instead of answering (SDFT's filter).
BANNED_PHRASES = (
    "reference answer",
    "reference solution",
    "your response",
    "your own response",
    "as a guide",
)


def render(template: str, question: str, reference: str = "") -> str:
    """Fill a template; a missing placeholder is a configuration error, not a silent blank.

    >>> render(QA_TEMPLATE, "2+2")
    'Problem:\\n2+2\\n\\nAnswer:\\n'
    """
    return template.format(question=question, reference=reference)


def check_template(template: str, *, needs_reference: bool) -> None:
    """Raise ValueError with a fix-it message when a template lacks a placeholder it needs."""
    if "{question}" not in template:
        raise ValueError("the template must contain {question}")
    if needs_reference and "{reference}" not in template:
        raise ValueError("this strategy's template must contain {reference} (the expert answer)")
    try:
        template.format(question="", reference="")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"the template has a placeholder other than {{question}} and {{reference}} ({exc}); "
            "double literal braces as {{ }}"
        ) from exc
