"""What every verifier is: :class:`Verifier` (one candidate or a batch), :class:`FunctionVerifier` (one pure
function), and the verdicts they share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rewriter.records import GateStatus, Verdict


def _verdict(equal: bool, predicted: str, gold: str) -> Verdict:
    return Verdict(GateStatus.PASS if equal else GateStatus.FAIL, predicted, gold)


def _unverifiable(gold: str) -> Verdict:
    return Verdict(GateStatus.UNVERIFIABLE, None, None, f"gold answer could not be parsed: {gold[:80]!r}")


def _no_answer(gold: str | None) -> Verdict:
    return Verdict(GateStatus.FAIL, None, gold, "no answer found")


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
