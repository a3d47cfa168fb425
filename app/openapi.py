"""The OpenAPI document of the app as YAML: ``python -m app.openapi > openapi.yaml`` (``make openapi``).

The committed ``openapi.yaml`` is generated from the routes and their pydantic models; a test fails when it is
stale, so a route change and its document land together.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

from app.main import create_app
from rewriter.settings import Settings


def document() -> dict[str, Any]:
    """The OpenAPI document of an app on default settings (nothing is contacted to build it)."""
    return create_app(Settings.model_construct()).openapi()


def to_yaml(spec: dict[str, Any]) -> str:
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=120)


if __name__ == "__main__":
    sys.stdout.write(to_yaml(document()))
