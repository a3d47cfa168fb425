"""JSONL datasets in and out (DESIGN §3.3): three input schemas, streamed validation with line numbers, atomic writes.

Schemas, one per file: ``qa`` ``{"question","answer"[,"gold"]}``; ``prompt_completion`` ``{"prompt","completion"}``
(TRL's standard format, strings); ``messages`` ``{"messages":[{"role","content"},...]}`` where the question is the
last user turn before the last assistant turn and the target is that last assistant turn. Every schema takes an
optional ``id`` (string or integer; else ``row-<line>``) and ``gold`` (string or number); unknown fields are kept.

A file with any problem is refused whole: :class:`DataFileError` names each problem by line and field.

Modules: ``schemas`` (the schemas; each one's adapter in and out), ``validation`` (streamed validation; rows read
whole or not at all), ``problems`` (what a refusal says), ``jsonl`` (atomic writes). Every public name is importable
from ``rewriter.formats``.
"""

from __future__ import annotations

from rewriter.formats.jsonl import append_jsonl, write_jsonl
from rewriter.formats.problems import DataFileError, FileSummary, LineProblem
from rewriter.formats.schemas import (
    FIELDS,
    SCHEMAS,
    chat_prompt,
    detect_schema,
    output_record,
    parse_record,
    record_problems,
)
from rewriter.formats.validation import MAX_LINE_BYTES, iter_validate, read_rows, validate_stream

__all__ = [
    "FIELDS",
    "MAX_LINE_BYTES",
    "SCHEMAS",
    "DataFileError",
    "FileSummary",
    "LineProblem",
    "append_jsonl",
    "chat_prompt",
    "detect_schema",
    "iter_validate",
    "output_record",
    "parse_record",
    "read_rows",
    "record_problems",
    "validate_stream",
    "write_jsonl",
]
