"""``/v1/models``: OpenAI's model list — the base models, then the team's trained models and adapters with their
lineage (which job trained them, on which file, from which model)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel

from app.deps import ModelsDep, TeamDep
from rewriter.service.models import Model

router = APIRouter(prefix="/v1/models", tags=["models"])


class ModelObject(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str
    kind: Literal["base", "model", "adapter"]
    base: str
    parent: str | None
    lineage: dict[str, Any] | None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelObject]


def model_object(model: Model) -> dict[str, Any]:
    return {
        "id": model.id,
        "object": "model",
        "created": model.created,
        "owned_by": model.owned_by,
        "kind": model.kind,
        "base": model.base,
        "parent": model.parent,
        "lineage": model.lineage,
    }


@router.get("", response_model=ModelList)
def list_models(models: ModelsDep, team: TeamDep) -> dict[str, Any]:
    return {"object": "list", "data": [model_object(m) for m in models.list(team)]}


@router.get("/{model_id}", response_model=ModelObject)
def get_model(model_id: str, models: ModelsDep, team: TeamDep) -> dict[str, Any]:
    return model_object(models.get(team, model_id))
