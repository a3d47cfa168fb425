"""Task suites: the embedded toy world's skills, each a seeded generator plus the verifier that grades it.

Suite names: the base skills (``add``, ``sub``, ``reverse``, ``count``, ``compare``, ``wordproblem``),
``reference`` (re-solving with a prose reference), ``downstream`` (the primary task) and ``downstream-newop``
(the counter-example that needs a new operation).

``STYLE_SUITES`` hold the downstream task in a team's own wordings and expert registers (issue 15):
``downstream-styles`` (every register), ``downstream-styles-seen`` / ``downstream-styles-held-out`` (the registers
the reference skill is to be pretrained on, and the ones held out: ``styles.SEEN_REGISTERS`` /
``styles.HELD_OUT_REGISTERS``) and ``downstream-style-<register>`` (one register each). They are kept out of
``SUITES``, which is the committed backbone's scorecard; ``get_suite`` finds both.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from rewriter.records import Verdict
from rewriter.suites import answers, styles, toy
from rewriter.suites.toy import Example, Split

Kind = Literal["base", "reference", "downstream"]


@dataclass(frozen=True)
class Suite:
    name: str
    kind: Kind
    verifier: str  # a name in rewriter.verifiers
    make: Callable[[random.Random, Split], Example]
    description: str

    def examples(self, split: Split, n: int, seed: int = 0, *, allow_fewer: bool = False) -> list[Example]:
        """``n`` examples of ``split``, distinct by question, deterministic for ``seed``.

        A small problem space (doubling has ~200 test problems) gives what there is when ``allow_fewer``.
        """
        rng = random.Random(f"{self.name}/{split}/{seed}")
        seen: set[str] = set()
        out: list[Example] = []
        for _ in range(n * 50):
            example = self.make(rng, split)
            if example.model_input not in seen:
                seen.add(example.model_input)
                out.append(example)
                if len(out) == n:
                    return out
        if allow_fewer and out:
            return out
        raise ValueError(f"suite {self.name!r} has fewer than {n} distinct {split} problems")

    def check(self, prediction: str, gold: str) -> Verdict:
        return VERIFY[self.verifier](prediction, gold)


VERIFY: dict[str, Callable[[str, str], Verdict]] = {
    "toy-number": answers.verify_number,
    "toy-text": answers.verify_text,
}


def _base(name: str, verifier: str, description: str) -> Suite:
    maker = toy.BASE_MAKERS[name]
    return Suite(name, "base", verifier, lambda rng, split: toy.draw(maker, rng, split), description)


SUITES: dict[str, Suite] = {
    suite.name: suite
    for suite in (
        _base("add", "toy-number", "column addition of 1-3 digit numbers"),
        _base("sub", "toy-number", "column subtraction with borrows"),
        _base("reverse", "toy-text", "string reversal"),
        _base("count", "toy-number", "letter counting as a running tally"),
        _base("compare", "toy-number", "the larger of two numbers"),
        _base("wordproblem", "toy-number", "templated add/subtract word problems"),
        Suite(
            "reference",
            "reference",
            "toy-number",
            toy.make_reference,
            "re-solve a problem from a prose reference",
        ),
        Suite(
            "downstream",
            "downstream",
            "toy-number",
            lambda rng, split: toy.draw(toy.make_downstream, rng, split),
            "word problems with new names, objects and verbs; expert answers in prose",
        ),
        Suite(
            "downstream-newop",
            "downstream",
            "toy-number",
            lambda rng, split: toy.draw(toy.make_double, rng, split),
            "doubling, an operation the base never saw; expert answers in prose",
        ),
    )
}


def _styled(name: str, registers: tuple[str, ...], description: str) -> Suite:
    return Suite(
        name,
        "downstream",
        "toy-number",
        lambda rng, split: toy.make_styled(rng, split, registers),
        description,
    )


STYLE_SUITES: dict[str, Suite] = {
    suite.name: suite
    for suite in (
        _styled(
            "downstream-styles", tuple(styles.REGISTERS), "downstream in varied wordings and every register"
        ),
        _styled("downstream-styles-seen", styles.SEEN_REGISTERS, "downstream-styles, the seen registers"),
        _styled(
            "downstream-styles-held-out",
            styles.HELD_OUT_REGISTERS,
            "downstream-styles, the held-out registers",
        ),
        *(
            _styled(f"downstream-style-{r}", (r,), f"downstream-styles, register {r}")
            for r in styles.REGISTERS
        ),
    )
}

BASE_SKILLS = [name for name, suite in SUITES.items() if suite.kind == "base"]
RETENTION_SUITES = BASE_SKILLS


def get_suite(name: str) -> Suite:
    try:
        return SUITES[name] if name in SUITES else STYLE_SUITES[name]
    except KeyError:
        raise ValueError(
            f"unknown suite {name!r}; choose from {', '.join([*SUITES, *STYLE_SUITES])}"
        ) from None


__all__ = ["BASE_SKILLS", "RETENTION_SUITES", "STYLE_SUITES", "SUITES", "Example", "Suite", "get_suite"]
