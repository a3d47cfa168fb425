"""The three input schemas: which one a record is written in, what is wrong with a record, and each schema's
adapter in (a record as a :class:`~rewriter.records.Row`) and out (a row as an output record)."""

from __future__ import annotations

from typing import Any, cast

from rewriter.formats.problems import DataFileError, LineProblem
from rewriter.records import Row, Schema

SCHEMAS: tuple[Schema, ...] = ("qa", "prompt_completion", "messages")
FIELDS: dict[Schema, tuple[str, str]] = {  # (question, target) keys; "messages" holds both
    "qa": ("question", "answer"),
    "prompt_completion": ("prompt", "completion"),
    "messages": ("messages", "messages"),
}
_GOLD_TYPES = (str, int, float)  # not bool: JSON true is no gold answer


def _kind(value: object) -> str:
    names = {str: "string", bool: "boolean", int: "number", float: "number", list: "array", dict: "object"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def detect_schema(obj: dict[str, Any]) -> Schema:
    """The schema an object is written in, judged by its keys.

    >>> detect_schema({"prompt": "2+2=", "completion": "4"})
    'prompt_completion'
    """
    # A complete key set wins first: {"question","answer","prompt"} is qa with an extra field.
    for test in (all, any):
        for schema in reversed(SCHEMAS):
            if test(key in obj for key in FIELDS[schema]):
                return schema
    keys = ", ".join(sorted(obj)[:8]) or "none"
    raise ValueError(
        'expected keys {"question","answer"}, {"prompt","completion"} or {"messages"}; got keys: ' + keys
    )


def _last_turn(messages: list[Any], role: str, before: int) -> int | None:
    for i in range(before - 1, -1, -1):
        if isinstance(messages[i], dict) and messages[i].get("role") == role:
            return i
    return None


def _string(obj: dict[str, Any], key: str, line: int, *, required: bool = True) -> list[LineProblem]:
    value = obj.get(key)
    if value is None and key not in obj:
        return [LineProblem(line, key, "missing")] if required else []
    if type(value) is not str:
        return [LineProblem(line, key, f"must be a string, got {_kind(value)}")]
    return []


def _message_problems(messages: object, line: int) -> list[LineProblem]:
    if type(messages) is not list or not messages:
        return [LineProblem(line, "messages", f"must be a non-empty array of turns, got {_kind(messages)}")]
    answer = user = -1
    for i in range(len(messages) - 1, -1, -1):  # one pass from the end: types, the target, its question
        turn = messages[i]
        if type(turn) is not dict:
            return [LineProblem(line, f"messages[{i}]", f"must be an object, got {_kind(turn)}")]
        role = turn.get("role")
        if type(role) is not str or type(turn.get("content")) is not str:
            problems = _string(turn, "role", line) + _string(turn, "content", line)
            return [p._replace(field=f"messages[{i}].{p.field}") for p in problems]
        if answer < 0:
            answer = i if role == "assistant" else -1
        elif user < 0 and role == "user":
            user = i
    if answer < 0:
        return [LineProblem(line, "messages", "needs an assistant turn (the target)")]
    if not messages[answer]["content"] or messages[answer]["content"].isspace():
        return [LineProblem(line, f"messages[{answer}].content", "the last assistant turn must not be empty")]
    if user < 0:
        return [LineProblem(line, "messages", "needs a user turn before the last assistant turn")]
    return []


def record_problems(obj: dict[str, Any], line: int, schema: Schema) -> list[LineProblem]:
    """Everything wrong with one record of ``schema`` (empty when it is a valid row)."""
    if schema == "messages":
        problems = _message_problems(obj.get("messages"), line)
    else:
        question, target = FIELDS[schema]
        problems = _string(obj, question, line) + _string(obj, target, line)
        if not problems and not obj[target].strip():
            problems.append(LineProblem(line, target, "must not be empty"))
    rid = obj.get("id")
    if rid is not None and not ((type(rid) is str and rid) or type(rid) is int):
        problems.append(
            LineProblem(line, "id", f"must be a non-empty string or an integer, got {_kind(rid)}")
        )
    gold = obj.get("gold")
    if gold is not None and type(gold) not in _GOLD_TYPES:
        problems.append(LineProblem(line, "gold", f"must be a string or a number, got {_kind(gold)}"))
    return problems


def _row(obj: dict[str, Any], line: int, schema: Schema) -> Row:
    if schema == "messages":
        messages = obj["messages"]
        answer = cast(int, _last_turn(messages, "assistant", len(messages)))
        question_text = messages[cast(int, _last_turn(messages, "user", answer))]["content"]
        answer_text = messages[answer]["content"]
    else:
        question_text, answer_text = (obj[key] for key in FIELDS[schema])
    rid, gold = obj.get("id"), obj.get("gold")
    return Row(
        id=f"row-{line}" if rid is None else str(rid),
        question=question_text,
        answer=answer_text,
        gold=None if gold is None else str(gold),
        schema=schema,
        line=line,
        raw=obj,
    )


def parse_record(obj: dict[str, Any], line: int, schema: Schema) -> Row:
    """One record as a :class:`Row`; :class:`DataFileError` naming the line and fields if it is not valid.

    >>> parse_record({"question": "1+1", "answer": "2", "src": "x"}, 3, "qa").id
    'row-3'
    """
    if problems := record_problems(obj, line, schema):
        raise DataFileError(problems)
    return _row(obj, line, schema)


def chat_prompt(row: Row) -> str | list[dict[str, Any]]:
    """What a chat template renders before the target: a ``messages`` row's turns up to its last assistant turn (the
    system prompt and earlier turns included), else the question alone (one user turn).

    >>> row = parse_record({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "1+1"},
    ...                                  {"role": "assistant", "content": "2"}]}, 1, "messages")
    >>> [turn["role"] for turn in chat_prompt(row)]
    ['system', 'user']
    >>> chat_prompt(parse_record({"question": "1+1", "answer": "2"}, 1, "qa"))
    '1+1'
    """
    messages = row.raw.get("messages") if row.schema == "messages" else None
    if not isinstance(messages, list):
        return row.question
    return [dict(turn) for turn in messages[: _last_turn(messages, "assistant", len(messages))]]


def output_record(
    row: Row, target: str, meta: dict[str, Any] | None = None, schema: Schema | None = None
) -> dict[str, Any]:
    """``row`` as an output record: in its own schema (or ``schema``), the target replaced, ``meta`` added.

    Unknown fields and the id are kept. Converting *from* messages keeps only the question turn.

    >>> row = parse_record({"question": "1+1", "answer": "two", "src": "x"}, 1, "qa")
    >>> output_record(row, "1+1=2 #2", {"provenance": "self"}, "prompt_completion")
    {'id': 'row-1', 'prompt': '1+1', 'completion': '1+1=2 #2', 'src': 'x', 'meta': {'provenance': 'self'}}
    """
    schema = schema or row.schema
    source_keys = FIELDS[row.schema]
    if schema == row.schema and source_keys[0] in row.raw:
        record = dict(row.raw)
        if schema == "messages":
            messages = [dict(turn) for turn in record["messages"]]
            messages[cast(int, _last_turn(messages, "assistant", len(messages)))]["content"] = target
            record["messages"] = messages
        else:
            record[source_keys[1]] = target
    else:
        turns = [{"role": "user", "content": row.question}, {"role": "assistant", "content": target}]
        question, answer = FIELDS[schema]
        core = {"messages": turns} if schema == "messages" else {question: row.question, answer: target}
        extra = {key: value for key, value in row.raw.items() if key not in source_keys}
        record = {**core, **extra}
    if "id" not in record:
        record = {"id": row.id, **record}
    if row.gold is not None and "gold" not in record:
        record["gold"] = row.gold
    if meta is not None:
        record["meta"] = meta
    return record
