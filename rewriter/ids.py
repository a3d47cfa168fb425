"""Prefixed resource ids (``file-…``, ``rwjob-…``) and unix timestamps, shaped like OpenAI's."""

from __future__ import annotations

import secrets
import string
import time
from enum import StrEnum

_ALPHABET = string.ascii_letters + string.digits
# 24 base-62 characters ≈ 143 bits: collisions are not a concern, and ids stay URL-safe without escaping.
_ID_LENGTH = 24


class Prefix(StrEnum):
    FILE = "file"
    REWRITE_JOB = "rwjob"
    FINE_TUNE_JOB = "ftjob"
    EVAL = "eval"
    FINE_TUNE_EVENT = "ftevent"
    FINE_TUNE_CHECKPOINT = "ftckpt"
    REWRITE_EVENT = "rwevent"
    EVAL_EVENT = "evalevent"
    TEAM = "team"
    KEY = "key"
    JOB = "job"  # kinds without a public prefix of their own (the supervisor's selftest)


def new_id(prefix: Prefix) -> str:
    """A fresh id such as ``file-3Vq…``.

    >>> new_id(Prefix.FILE).startswith("file-")
    True
    """
    return f"{prefix.value}-" + "".join(secrets.choice(_ALPHABET) for _ in range(_ID_LENGTH))


def has_prefix(value: str, prefix: Prefix) -> bool:
    """True when ``value`` looks like an id of that kind.

    >>> has_prefix("rwjob-abc", Prefix.REWRITE_JOB), has_prefix("file-abc", Prefix.REWRITE_JOB)
    (True, False)
    """
    return value.startswith(f"{prefix.value}-") and len(value) > len(prefix.value) + 1


def now() -> int:
    """Unix time in whole seconds, the unit of every ``created_at`` in the API."""
    return int(time.time())
