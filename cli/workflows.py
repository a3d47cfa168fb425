"""In-process workflows: rewrite, score, SFT, GRPO, experiment."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach the workflow commands to the top-level app."""
