"""Models: the base models the service offers and the models and adapters a team's jobs trained, with lineage.

Base models are configuration: ``toy`` (the embedded backbone) plus ``settings.base_models``. Trained models are
records in the store (``ModelRecord``) whose weights live in storage under ``models/{team}/{job_id}/``: a full model
directory, or a LoRA adapter on its parent. Their ids follow OpenAI's: ``ft:<base>:<team>:<job suffix>``, with the
user's suffix before the job's (``ft:toy:acme:math:a1B2c3D4``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rewriter.backbones import BUILTIN
from rewriter.errors import NotFound
from rewriter.ids import now
from rewriter.service.artifacts import Artifacts
from rewriter.service.store import ModelRecord, Store

SYSTEM_OWNER = "system"
JOB_SUFFIX_CHARS = 8  # of the job id's 24 random characters: 47 bits, unique in practice (checked on record)

Kind = Literal["base", "model", "adapter"]


@dataclass(frozen=True)
class Model:
    id: str
    created: int
    owned_by: str
    kind: Kind
    base: str  # the base model at the root of the lineage (itself for a base model)
    parent: str | None = None  # what it was trained from
    record: ModelRecord | None = None  # trained models only
    directory: Path | None = None  # base models only: where the weights are

    @property
    def lineage(self) -> dict[str, Any] | None:
        """Which job trained it, on which file, from which model."""
        if self.record is None:
            return None
        return {
            "fine_tuning_job": self.record.job_id,
            "training_file": self.record.training_file,
            "method": self.record.method,
            "parent": self.record.parent,
            "base": self.record.base,
        }


def model_id(base: str, team_name: str, job_id: str, suffix: str | None = None) -> str:
    """
    >>> model_id("toy", "acme", "ftjob-abcdefghijklmnopQRSTUVWX", "math")
    'ft:toy:acme:math:QRSTUVWX'
    """
    parts = ["ft", base, team_name, *([suffix] if suffix else []), job_id[-JOB_SUFFIX_CHARS:]]
    return ":".join(parts)


class Registry:
    def __init__(
        self, store: Store, artifacts: Artifacts, base_models: Mapping[str, Path | str] | None = None
    ) -> None:
        self.store = store
        self.artifacts = artifacts
        self.bases: dict[str, Path] = {**BUILTIN, **{k: Path(v) for k, v in (base_models or {}).items()}}

    def list(self, team: str) -> list[Model]:
        """Base models first, then the team's trained models, oldest first."""
        return [self.base(name) for name in self.bases] + [trained(r) for r in self.store.list_models(team)]

    def get(self, team: str, model: str, *, param: str = "model") -> Model:
        """The model called ``model`` if it is a base model or one of the team's; NotFound naming ``param``."""
        if model in self.bases:
            return self.base(model)
        try:
            return trained(self.store.get_model(model, team=team))
        except NotFound:
            raise NotFound(
                f"The model '{model}' does not exist", param=param, code="model_not_found"
            ) from None

    def register(
        self,
        team: str,
        job_id: str,
        directory: Path,
        *,
        kind: Literal["model", "adapter"],
        parent: Model,
        training_file: str,
        method: str,
        suffix: str | None = None,
    ) -> Model:
        """Copy a trained model's directory into storage and record it (idempotent for a job that reruns)."""
        path = f"models/{team}/{job_id}"
        self.artifacts.put_dir(directory, path)
        record = ModelRecord(
            id=model_id(parent.base, self.store.team_name(team), job_id, suffix),
            team=team,
            created_at=now(),
            kind=kind,
            parent=parent.id,
            base=parent.base,
            path=path,
            job_id=job_id,
            training_file=training_file,
            method=method,
        )
        return trained(self.store.add_model(record))

    def local_dir(self, model: Model, cache: Path) -> Path:
        """A directory on this machine with the model's weights (downloaded into ``cache`` from object stores)."""
        if model.directory is not None:
            return model.directory
        assert model.record is not None
        local = self.artifacts.local_path(model.record.path)
        return (
            local
            if local is not None
            else self.artifacts.get_dir(model.record.path, cache / model.record.job_id)
        )

    def engine_paths(self, team: str, model: str, adapter: str | None, cache: Path) -> tuple[str, str | None]:
        """(model directory, adapter directory) to load ``model`` — an adapter given as the model loads on its
        parent — with ``adapter`` on top."""
        found = self.get(team, model)
        if found.kind == "adapter":
            assert found.parent is not None
            if adapter is not None:
                raise ValueError(f"{model} is itself an adapter; it cannot take another adapter")
            adapter_dir = self.local_dir(found, cache)
            return str(self.local_dir(self.get(team, found.parent), cache)), str(adapter_dir)
        extra = self.local_dir(self.get(team, adapter, param="adapter"), cache) if adapter else None
        return str(self.local_dir(found, cache)), str(extra) if extra else None

    def base(self, name: str) -> Model:
        """The base model ``name`` (one of ``bases``)."""
        directory = self.bases[name]
        config = directory / "config.json"
        created = int(config.stat().st_mtime) if config.exists() else 0
        return Model(name, created, SYSTEM_OWNER, "base", name, directory=directory)


def trained(record: ModelRecord) -> Model:
    """The model a job trained, from its record."""
    kind: Kind = "adapter" if record.kind == "adapter" else "model"
    return Model(record.id, record.created_at, record.team, kind, record.base, record.parent, record=record)
