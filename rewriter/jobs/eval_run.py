"""Evaluation runs: greedy accuracy per toy suite (``EvalRunRequest`` → ``EvalRunSpec``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from rewriter.errors import InvalidRequest
from rewriter.specs import Seed
from rewriter.suites import SUITES


class EvalRunRequest(BaseModel):
    """``POST /v1/eval_runs``: greedy accuracy per suite; with ``base``, gain and forgetting against it."""

    model_config = ConfigDict(extra="forbid")

    model: str
    adapter: str | None = Field(None, description="An adapter model id to apply on the model.")
    suites: list[Annotated[str, Field(json_schema_extra={"enum": list(SUITES)})]] | None = Field(
        None, min_length=1, description="Toy suite names; default: all."
    )
    n: int = Field(200, ge=1, le=5000, description="Test problems per suite.")
    base: str | None = Field(None, description="Compare with this model: gain and forgetting.")
    seed: Seed = 0
    metadata: dict[str, str] | None = None


class EvalRunSpec(BaseModel):
    model: str
    adapter: str | None = None
    suites: list[str]
    n: int
    base: str | None = None
    seed: int = 0
    engine: str = "hf"
    metadata: dict[str, str] | None = None


def check_suites(suites: list[str] | None) -> list[str]:
    names = list(SUITES) if suites is None else suites
    if not names:
        raise InvalidRequest("suites must name at least one suite.", param="suites")
    unknown = [name for name in names if name not in SUITES]
    if unknown:
        raise InvalidRequest(f"unknown suite {unknown[0]!r}; choose from {', '.join(SUITES)}", param="suites")
    return list(dict.fromkeys(names))
