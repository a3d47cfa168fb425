"""Model directories that ship with the package. ``toy`` is the embedded backbone (DESIGN §4)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TOY_DIR = Path(__file__).parent / "toy"
BUILTIN = {"toy": TOY_DIR}


def resolve_model(name_or_path: str | Path) -> Path:
    """``toy`` → the committed toy backbone; anything else must be a local Hugging Face model directory."""
    if str(name_or_path) in BUILTIN:
        path = BUILTIN[str(name_or_path)]
        if not (path / "config.json").exists():
            raise FileNotFoundError(
                f"the toy backbone is missing at {path}; rebuild it with `rewriter toy build`"
            )
        return path
    path = Path(name_or_path).expanduser()
    if not (path / "config.json").exists():
        raise FileNotFoundError(
            f"{name_or_path!s} is neither a built-in model ({', '.join(BUILTIN)}) nor a model directory with a "
            "config.json (models are loaded from disk; no hub is contacted)"
        )
    return path


def model_settings(path: Path) -> dict[str, Any]:
    """Per-model settings saved beside the weights (``rewriter.json``): templates and provenance."""
    file = path / "rewriter.json"
    return json.loads(file.read_text()) if file.exists() else {}
