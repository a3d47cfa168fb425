"""/v1/models: the base models (toy and those configured in settings) for every team, in OpenAI's shape."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from rewriter.backbones import TOY_DIR
from rewriter.settings import Settings
from tests.conftest import Api

pytestmark = pytest.mark.integration


def test_base_models_come_from_the_settings(settings: Settings) -> None:
    configured = settings.model_copy(update={"base_models": {"mini": TOY_DIR}})
    api = Api(configured)
    try:
        listed = api.get("/v1/models")
        assert listed["object"] == "list" and [m["id"] for m in listed["data"]] == ["toy", "mini"]
        mini = api.get("/v1/models/mini")
        assert mini == {
            "id": "mini",
            "object": "model",
            "created": int((TOY_DIR / "config.json").stat().st_mtime),
            "owned_by": "system",
            "kind": "base",
            "base": "mini",
            "parent": None,
            "lineage": None,
        }
        missing = api.client.get("/v1/models/gpt-9")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"
        assert api.client.get("/v1/models", headers={"Authorization": "Bearer nope"}).status_code == 401
    finally:
        api.close()


@pytest.mark.parametrize("models", [{"toy": TOY_DIR}, {"ft:x": TOY_DIR}, {"empty": Path("/nonexistent")}])
def test_misconfigured_base_models_are_refused_with_a_fix(models: dict[str, Path]) -> None:
    with pytest.raises(ValidationError) as error:
        Settings(base_models=models)
    assert "REWRITER_BASE_MODELS" in str(error.value)
