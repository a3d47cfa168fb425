"""Small builders for test data: dataset records and the JSONL bytes of a file."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rewriter.records import Row
from rewriter.suites import get_suite

Line = dict[str, Any] | str | bytes


def qa_record(i: int = 0, **extra: Any) -> dict[str, Any]:
    return {"question": f"{i}+1", "answer": f"{i}+1={i + 1} #{i + 1}", **extra}


def pc_record(i: int = 0, **extra: Any) -> dict[str, Any]:
    return {"prompt": f"Problem:\n{i}+1\n\nAnswer:\n", "completion": f"{i}+1={i + 1} #{i + 1}", **extra}


def messages_record(i: int = 0, **extra: Any) -> dict[str, Any]:
    """A chat with a system turn, an earlier exchange, and the final question/answer pair."""
    turns = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": f"{i}+1"},
        {"role": "assistant", "content": f"{i}+1={i + 1} #{i + 1}"},
    ]
    return {"messages": turns, **extra}


def jsonl(lines: Sequence[Line]) -> bytes:
    """A JSONL file: dicts are dumped (non-ASCII kept as UTF-8), str/bytes lines are taken as they are."""
    out = []
    for line in lines:
        if isinstance(line, dict):
            line = json.dumps(line, ensure_ascii=False)
        out.append(line.encode() if isinstance(line, str) else line)
    return b"\n".join(out) + b"\n"


def chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def sft_rows(n: int = 48) -> list[Row]:
    """House-style rows; odd rows carry generator log-probs (one per character + EOS), even rows are expert rows."""
    rows = []
    for i in range(n):
        answer = f"{i}+1={i + 1} #{i + 1}"
        generator = {"token_logprobs": [-0.7] * (len(answer) + 1)} if i % 2 else None
        rows.append(Row(f"r{i}", f"{i}+1", answer, str(i + 1), raw={"meta": {"generator": generator}}))
    return rows


def downstream_rows(n: int, offset: int = 0, *, house: bool = False) -> list[Row]:
    """Downstream word problems of the "finds" kind (the toy base solves or rewrites them ~70% right when sampling),
    with their prose expert answers (or the house-style ones)."""
    examples = [
        e for e in get_suite("downstream").examples("train", 4 * (n + offset)) if e.subtype == "finds"
    ]
    picked = examples[offset : offset + n]
    assert len(picked) == n
    return [
        Row(f"r{offset + i}", e.question, e.house if house else e.expert, e.gold)
        for i, e in enumerate(picked)
    ]
