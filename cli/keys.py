"""API keys: ``create_key(team)`` backs ``rewriter keys create --team NAME``."""

from __future__ import annotations

from rewriter.service.store import Store
from rewriter.settings import Settings, get_settings


def create_key(team: str, settings: Settings | None = None) -> str:
    """Create an API key for ``team`` (the team is created on first use) and return the plaintext key.

    Only the key's sha256 is stored: the caller shows the plaintext once.
    """
    settings = settings or get_settings()
    return Store.from_url(settings.redis_url, settings.redis).create_key(team)
