"""Records ↔ Redis hashes: every value is a string in Redis; structured job fields are JSON.

>>> encode("spec", {"k": 4}), encode("started_at", None), encode("attempts", 2)
('{"k":4}', '', '2')
>>> decode("spec", '{"k":4}'), decode("started_at", ""), decode("attempts", "2"), decode("heartbeat_at", "1.5")
({'k': 4}, None, 2, 1.5)
"""

from __future__ import annotations

import json
from typing import Any

from rewriter.service.store.records import FileRecord, JobRecord, ModelRecord

_JSON_FIELDS = {"spec", "result", "progress", "error"}
_INT_FIELDS = {"created_at", "started_at", "finished_at", "attempts", "cancel_requested_at"}
_FLOAT_FIELDS = {"updated_at", "heartbeat_at"}


def encode(name: str, value: Any) -> str:
    if name in _JSON_FIELDS:
        return json.dumps(value, separators=(",", ":"))
    return "" if value is None else str(value)


def decode(name: str, raw: str) -> Any:
    if name in _JSON_FIELDS:
        return json.loads(raw) if raw else None
    if raw == "":
        return None
    if name in _INT_FIELDS:
        return int(raw)
    if name in _FLOAT_FIELDS:
        return float(raw)
    return raw


def file_from_hash(raw: dict[str, str]) -> FileRecord:
    return FileRecord(
        id=raw["id"],
        team=raw["team"],
        filename=raw["filename"],
        purpose=raw["purpose"],
        bytes=int(raw["bytes"]),
        created_at=int(raw["created_at"]),
        schema=raw["schema"],
        rows=int(raw["rows"]),
        sha256=raw["sha256"],
        path=raw["path"],
        status=raw.get("status", "processed"),
    )


def model_from_hash(raw: dict[str, str]) -> ModelRecord:
    values: dict[str, Any] = {name: raw[name] for name in ModelRecord.__dataclass_fields__}
    values["created_at"] = int(values["created_at"])
    return ModelRecord(**values)


def job_from_hash(raw: dict[str, str]) -> JobRecord:
    known = JobRecord.__dataclass_fields__
    values = {name: decode(name, value) for name, value in raw.items() if name in known}
    values.setdefault("attempts", 0)
    return JobRecord(**values)
