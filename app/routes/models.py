"""``/v1/models``: OpenAI's model list — the base models, then the team's trained models and adapters with their
lineage (which job trained them, on which file, from which model)."""

from __future__ import annotations

from typing import Any, Literal, Self

from fastapi import APIRouter
from pydantic import BaseModel

from app.deps import ReadsDep, TeamDep
from app.listing import APIObject
from rewriter.service.models import Model

router = APIRouter(prefix="/v1/models", tags=["models"])


class ModelObject(APIObject):
    object: Literal["model"] = "model"
    created: int
    owned_by: str
    kind: Literal["base", "model", "adapter"]
    base: str
    parent: str | None
    lineage: dict[str, Any] | None

    @classmethod
    def from_record(cls, model: Model) -> Self:
        """The registry's model: its attributes are the object's fields."""
        return cls.model_validate(model, from_attributes=True)


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelObject]


@router.get("")
async def list_models(reads: ReadsDep, team: TeamDep) -> ModelList:
    return ModelList(data=[ModelObject.from_record(model) for model in await reads.models(team)])


@router.get("/{model_id}")
async def get_model(model_id: str, reads: ReadsDep, team: TeamDep) -> ModelObject:
    return ModelObject.from_record(await reads.model(team, model_id))
