"""A data file's problems: :class:`LineProblem` names one by line and field, :class:`DataFileError` refuses a file
whole, :class:`FileSummary` describes a valid one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from rewriter.records import Schema


class LineProblem(NamedTuple):
    line: int  # 1-based; 0 for the file as a whole
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f": field {self.field!r}" if self.field else "")
        return f"{where}: {self.message}"


class DataFileError(ValueError):
    """A data file refused whole. ``problems`` keeps the first few; ``total`` counts them all."""

    def __init__(self, problems: list[LineProblem], total: int | None = None) -> None:
        self.problems = list(problems)
        self.total = len(self.problems) if total is None else total
        more = f" (and {self.total - len(self.problems)} more)" if self.total > len(self.problems) else ""
        noun = "problem" if self.total == 1 else "problems"
        super().__init__(
            f"{self.total} {noun} in the data file: " + "; ".join(map(str, self.problems)) + more
        )

    def __reduce__(self) -> tuple[type[DataFileError], tuple[list[LineProblem], int]]:
        return type(self), (self.problems, self.total)  # pickles across processes (workers, pools)


@dataclass
class FileSummary:
    schema: Schema
    rows: int
    bytes: int
    lines: int
    problems: list[LineProblem] = field(default_factory=list)
