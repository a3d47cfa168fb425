"""Plain records shared across the library: input rows, gate verdicts and provenance."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

Schema = Literal["qa", "prompt_completion", "messages"]


class Provenance(StrEnum):
    SELF = "self"  # the model's own solution to x alone
    GUIDED = "guided"  # the model's solution with y* as guidance
    REWRITTEN = "rewritten"  # a rewrite of y* (self_distill, policy)
    EXPERT_FALLBACK = "expert_fallback"  # no candidate passed the gate: y* kept
    ORIGINAL = "original"  # identity strategy


class GateStatus(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    UNVERIFIABLE = "unverifiable"  # the gold answer itself could not be parsed


@dataclass(frozen=True)
class Verdict:
    """The task-consistency gate's answer for one candidate."""

    status: GateStatus
    predicted: str | None  # the answer extracted from the candidate
    gold: str | None  # the gold answer as parsed
    reason: str = ""

    @property
    def passed(self) -> bool:
        return self.status is GateStatus.PASS


@dataclass
class Row:
    """One training example, whatever schema it came in.

    ``question`` is the user turn / prompt, ``answer`` the target (y*), ``gold`` the reference final answer (the
    target itself when the file has none). ``raw`` keeps the original object so unknown fields survive a rewrite.
    """

    id: str
    question: str
    answer: str
    gold: str | None = None
    schema: Schema = "qa"
    line: int = 0
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def gold_or_answer(self) -> str:
        return self.gold if self.gold is not None else self.answer
