"""JSONL datasets: the three schemas round-trip, problems name their line and field, bad files are refused whole,
and the streaming validator is indifferent to where chunks split the bytes."""

from __future__ import annotations

import doctest
import importlib
import io
import json
import os
import pickle
import pkgutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rewriter import formats
from rewriter.formats import (
    DataFileError,
    LineProblem,
    detect_schema,
    output_record,
    parse_record,
    read_rows,
    validate_stream,
    write_jsonl,
)
from rewriter.records import Schema
from tests.factories import Line, chunks, jsonl, messages_record, pc_record, qa_record

BUILDERS: dict[Schema, Callable[..., dict[str, Any]]] = {
    "qa": qa_record,
    "prompt_completion": pc_record,
    "messages": messages_record,
}


def _problems(lines: list[Line]) -> list[LineProblem]:
    """The problems both validators report (they must agree)."""
    data = jsonl(lines)
    with pytest.raises(DataFileError) as streamed:
        validate_stream(chunks(data, 7))
    with pytest.raises(DataFileError) as loaded:
        read_rows(io.BytesIO(data))
    assert streamed.value.problems == loaded.value.problems
    return streamed.value.problems


def _target(record: dict[str, Any]) -> str:
    if "messages" in record:
        return str(record["messages"][-1]["content"])
    return str(record.get("answer", record.get("completion")))


def test_module_doctests_pass() -> None:
    for info in pkgutil.iter_modules(formats.__path__):
        assert doctest.testmod(importlib.import_module(f"rewriter.formats.{info.name}")).failed == 0


@pytest.mark.parametrize("schema", ["qa", "prompt_completion", "messages"])
def test_each_schema_round_trips_with_unknown_fields_and_ids(schema: Schema, tmp_path: Path) -> None:
    make = BUILDERS[schema]

    def build() -> list[dict[str, Any]]:
        return [make(0, source="gsm8k", tags=["a", "é"]), make(1, id=17, gold=2), make(2, id="x-2")]

    records = build()
    path = tmp_path / "in.jsonl"
    path.write_bytes(jsonl(list(records)))

    found, rows = read_rows(path)
    assert found == schema and [r.id for r in rows] == ["row-1", "17", "x-2"]
    assert rows[1].gold == "2" and rows[0].gold is None
    assert rows[1].question == (pc_record(1)["prompt"] if schema == "prompt_completion" else "1+1")
    assert [r.answer for r in rows] == [_target(r) for r in records]

    outputs = [output_record(row, f"new {row.id}", {"provenance": "self"}) for row in rows]
    write_jsonl(tmp_path / "out.jsonl", outputs)
    again_schema, again = read_rows(tmp_path / "out.jsonl")
    assert again_schema == schema and [r.raw for r in again] == outputs
    for original, row, out in zip(records, again, outputs, strict=True):
        expected = {"id": row.id, **original, "meta": {"provenance": "self"}}
        if schema == "messages":
            expected["messages"] = original["messages"][:-1] + [
                {"role": "assistant", "content": f"new {row.id}"}
            ]
        else:
            expected["answer" if schema == "qa" else "completion"] = f"new {row.id}"
        assert out == expected
    assert again[0].id == "row-1" and again[0].raw["source"] == "gsm8k" and again[0].raw["tags"] == ["a", "é"]
    assert [r.raw for r in rows] == build()  # output_record did not touch the input rows


def test_output_record_converts_between_schemas() -> None:
    row = parse_record(messages_record(4, id="m4", note="kept"), 9, "messages")
    assert (row.question, row.answer) == ("4+1", "4+1=5 #5")
    assert output_record(row, "5", None, "qa") == {
        "question": "4+1",
        "answer": "5",
        "id": "m4",
        "note": "kept",
    }
    qa = parse_record(qa_record(3, gold=4), 2, "qa")
    assert output_record(qa, "#4", {"k": 1}, "messages") == {
        "id": "row-2",
        "messages": [{"role": "user", "content": "3+1"}, {"role": "assistant", "content": "#4"}],
        "gold": 4,
        "meta": {"k": 1},
    }
    assert output_record(qa, "#4", None, "prompt_completion")["completion"] == "#4"


def test_detect_schema_names_the_keys_it_expected() -> None:
    assert detect_schema({"question": "q", "answer": "a", "prompt": "extra"}) == "qa"
    with pytest.raises(ValueError, match='"question","answer"'):
        detect_schema({"input": "x", "output": "y"})


@pytest.mark.parametrize(
    ("lines", "line", "field", "message"),
    [
        ([qa_record(0), qa_record(1), '{"question": "2+1", "answer": '], 3, None, "not valid JSON"),
        ([qa_record(0), {"question": "1+1"}], 2, "answer", "missing"),
        ([qa_record(0), {"question": "1+1", "answer": 2}], 2, "answer", "must be a string, got number"),
        ([{"question": ["x"], "answer": "2"}], 1, "question", "must be a string, got array"),
        ([qa_record(0), {"question": "1+1", "answer": "  "}], 2, "answer", "must not be empty"),
        ([qa_record(0), qa_record(1, id=True)], 2, "id", "non-empty string or an integer, got boolean"),
        ([qa_record(0), qa_record(1, gold={"v": 2})], 2, "gold", "string or a number, got object"),
        ([pc_record(0), {"prompt": "p", "completion": None}], 2, "completion", "got null"),
        ([qa_record(0), "[1, 2]"], 2, None, "must be a JSON object, got array"),
        ([qa_record(0), {"input": "x"}], 2, None, "expected keys"),
        (
            [qa_record(0), pc_record(1)],
            2,
            None,
            "schema 'prompt_completion' differs from the file's schema 'qa'",
        ),
        ([qa_record(0), b'{"question": "caf\xe9", "answer": "x"}'], 2, None, "not valid UTF-8 (byte 0xe9"),
        ([qa_record(0, id=5), qa_record(1, id="5")], 2, "id", "duplicate: repeats the id of line 1"),
        (
            [qa_record(0), qa_record(1, id="row-1")],
            2,
            "id",
            "duplicate id 'row-1' (the derived id of line 1)",
        ),
        ([qa_record(0, id="row-2"), qa_record(1)], 2, "id", "derived id 'row-2' duplicates the id on line 1"),
        ([{"messages": [{"role": "user", "content": "q"}]}], 1, "messages", "needs an assistant turn"),
        ([{"messages": [{"role": "assistant", "content": "a"}]}], 1, "messages", "needs a user turn before"),
        (
            [messages_record(0), {"messages": [{"role": "user", "content": 3}]}],
            2,
            "messages[0].content",
            "string",
        ),
        ([{"messages": []}], 1, "messages", "non-empty array"),
    ],
)
def test_problems_name_line_and_field(lines: list[Line], line: int, field: str | None, message: str) -> None:
    problems = _problems(lines)
    assert len(problems) == 1, problems
    assert problems[0].line == line and problems[0].field == field and message in problems[0].message
    assert str(problems[0]).startswith(f"line {line}: " + (f"field {field!r}: " if field else ""))


@pytest.mark.parametrize("data", [b"", b"\n\n  \n"])
def test_empty_file_is_a_problem(data: bytes) -> None:
    with pytest.raises(DataFileError) as error:
        validate_stream([data])
    assert error.value.problems == [LineProblem(0, None, "file is empty")]
    with pytest.raises(DataFileError, match="file is empty"):
        read_rows([data])


def test_a_file_with_one_bad_line_is_refused_whole(tmp_path: Path) -> None:
    lines: list[Line] = [qa_record(i) for i in range(50)]
    lines[37] = {"question": "x", "answer": 3}
    path = tmp_path / "bad.jsonl"
    path.write_bytes(jsonl(lines))
    with pytest.raises(DataFileError) as error:
        read_rows(path)
    assert [p.line for p in error.value.problems] == [38]
    assert "line 38: field 'answer': must be a string" in str(error.value)


def test_duplicate_ids_are_found_at_the_end_and_listed_in_line_order_with_other_problems() -> None:
    rows: list[object] = [qa_record(i, id=f"q{i % 7}") for i in range(20)]  # lines 8..20 repeat lines 1..7
    rows[2] = "{oops"  # line 3: bad JSON, before any repeat
    rows[12] = qa_record(12, id=12)  # line 13 gets a fresh id: no longer a repeat
    with pytest.raises(DataFileError) as error:
        validate_stream([jsonl(rows)], max_problems=4)
    listed = [(p.line, p.message) for p in error.value.problems]
    assert listed[0][0] == 3 and listed[0][1].startswith("not valid JSON")
    assert listed[1:] == [
        (8, "duplicate: repeats the id of line 1"),
        (9, "duplicate: repeats the id of line 2"),
        (11, "duplicate: repeats the id of line 4"),
    ]  # line 10's id was first seen on line 3, which is not a row: line 10 is a first occurrence
    assert error.value.total == 1 + 11  # the bad line and the repeats on lines 8, 9, 11, 12, 14-20


def test_problems_are_all_counted_but_only_the_first_kept() -> None:
    data = jsonl([qa_record(0)] + ["{oops"] * 30)
    with pytest.raises(DataFileError) as error:
        validate_stream([data], max_problems=5)
    assert error.value.total == 30 and [p.line for p in error.value.problems] == [2, 3, 4, 5, 6]
    assert str(error.value).startswith("30 problems") and str(error.value).endswith("(and 25 more)")
    again = pickle.loads(pickle.dumps(error.value))  # crosses process boundaries intact
    assert again.problems == error.value.problems and again.total == 30


def test_validate_stream_is_indifferent_to_chunk_boundaries() -> None:
    records = [qa_record(i, note="naïve 数学 🙂", id=f"r{i}") for i in range(4)] + [qa_record(9)]
    data = b"\xef\xbb\xbf" + jsonl(records).replace(b"\n", b"\r\n", 2)[:-1]  # BOM, CRLF, no final newline
    expected = validate_stream([data])
    assert (expected.schema, expected.rows, expected.lines, expected.bytes) == ("qa", 5, 5, len(data))
    for size in (1, 2, 3, 5, 64):
        assert validate_stream(chunks(data, size)) == expected
    for cut in range(1, len(data)):  # every split point, through multi-byte characters too
        assert validate_stream([data[:cut], data[cut:]]) == expected


def test_problem_line_numbers_survive_chunking_and_blank_lines() -> None:
    data = jsonl([qa_record(0), "", "   ", qa_record(1), b'{"question": "\xff\xfe", "answer": "a"}'])
    for size in (1, 4, 1000):
        with pytest.raises(DataFileError) as error:
            validate_stream(chunks(data, size))
        assert [(p.line, p.message[:18]) for p in error.value.problems] == [(5, "not valid UTF-8 (b")]


def test_an_overlong_line_is_a_problem_and_the_scan_goes_on() -> None:
    data = jsonl([qa_record(0), qa_record(1, pad="x" * 5000), qa_record(2), {"question": 1, "answer": "a"}])
    with pytest.raises(DataFileError) as error:
        validate_stream(chunks(data, 100), max_line_bytes=1000)
    assert [(p.line, p.field) for p in error.value.problems] == [(2, None), (4, "question")]
    assert "longer than 1000 bytes" in error.value.problems[0].message


def test_validate_stream_reads_a_generator_once_in_constant_memory() -> None:
    consumed = 0

    def stream() -> Iterator[bytes]:
        nonlocal consumed
        for i in range(2000):
            consumed += 1
            yield json.dumps(qa_record(i)).encode() + b"\n"

    summary = validate_stream(stream())
    assert consumed == 2000 and summary.rows == 2000


def test_write_jsonl_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    assert write_jsonl(path, [qa_record(0), qa_record(1)]) == 2
    before = path.read_bytes()

    def failing() -> Iterator[dict[str, Any]]:
        yield qa_record(5)
        raise RuntimeError("generator died")

    with pytest.raises(RuntimeError):
        write_jsonl(path, failing())
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["out.jsonl"]
    assert [r.question for r in read_rows(path)[1]] == ["0+1", "1+1"]


def test_append_jsonl_writes_text_and_binary_handles(tmp_path: Path) -> None:
    record = qa_record(0, note="数")
    with open(tmp_path / "b.jsonl", "wb") as fb, open(tmp_path / "t.jsonl", "w", encoding="utf-8") as ft:
        assert formats.append_jsonl(fb, [record]) == 1 and formats.append_jsonl(ft, [record, record]) == 2
    assert (tmp_path / "b.jsonl").read_bytes().decode().count("数") == 1
    assert read_rows(tmp_path / "t.jsonl")[1][1].raw == record


def test_parse_record_reports_every_field_of_the_record() -> None:
    with pytest.raises(DataFileError) as error:
        parse_record({"question": 1, "answer": 2, "gold": [3]}, 4, "qa")
    assert [(p.line, p.field) for p in error.value.problems] == [(4, "question"), (4, "answer"), (4, "gold")]


def test_a_text_file_with_a_byte_order_mark_reads() -> None:
    schema, rows = read_rows(["\ufeff" + json.dumps(qa_record(0)) + "\n", json.dumps(qa_record(1))])
    assert schema == "qa" and [r.answer for r in rows] == ["0+1=1 #1", "1+1=2 #2"]


def test_the_json_fallback_gives_the_same_verdicts(tmp_path: Path) -> None:
    """Without orjson (it is optional) the library parses with json and reports the same problems."""
    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    good.write_bytes(jsonl([qa_record(0), qa_record(1, id=3)]))
    bad.write_bytes(jsonl([qa_record(0), b'{"question": "\xff"}', "{oops", qa_record(1, answer=2)]))
    script = """
import sys
sys.modules["orjson"] = None  # as if it were not installed
from rewriter.formats import DataFileError, validate_stream
from rewriter.formats.jsonl import _loads
assert _loads.__module__ == "rewriter.formats.jsonl"
with open(sys.argv[1], "rb") as fh:
    print(validate_stream(fh).rows)
try:
    with open(sys.argv[2], "rb") as fh:
        validate_stream(fh)
except DataFileError as error:
    print([(p.line, p.field, p.message[:16]) for p in error.problems])
"""
    done = subprocess.run(
        [sys.executable, "-c", script, good, bad], capture_output=True, text=True, check=True
    )
    assert done.stdout.splitlines() == [
        "2",
        "[(2, None, 'not valid UTF-8 '), (3, None, 'not valid JSON: '), (4, 'answer', 'must be a string')]",
    ]
