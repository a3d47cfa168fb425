"""A streaming ``multipart/form-data`` reader: parts come out as they arrive, file data chunk by chunk.

Starlette's own form parser spools every file part to a temporary file before the route runs; an upload handler
built on it reads a 1 GB file twice and can refuse it only after receiving it whole. This reader drives
python-multipart's push parser from ``request.stream()`` instead, so the route sees the first bytes of the file
while the rest is still on the wire.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import anyio.from_thread
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from rewriter.errors import InvalidRequest, PayloadTooLarge

# Coalesce the parser's small slices (a body arrives in ~64 KB reads) into pieces of this size, so a consumer in
# another thread pays one hand-over per 256 KB, ~4,000 per GB.
PIECE_BYTES = 256 * 1024


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None  # None for a plain form field
    content_type: str | None


class MultipartReader:
    def __init__(
        self,
        content_type: str,
        body: AsyncIterator[bytes],
        *,
        max_body_bytes: float = float("inf"),
        max_field_bytes: int = 64 * 1024,
    ) -> None:
        kind, params = parse_options_header(content_type)
        if kind != b"multipart/form-data":
            raise InvalidRequest("Expected a multipart/form-data body with the fields 'file' and 'purpose'.")
        boundary = params.get(b"boundary")
        if not boundary:
            raise InvalidRequest("The multipart/form-data Content-Type has no boundary.")
        self._body = body
        self._max_body = max_body_bytes
        self._max_field = max_field_bytes
        self._received = 0
        self._finished = False
        self._events: deque[tuple[str, object]] = deque()
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_part_data": self._on_part_data,
                "on_part_end": lambda: self._events.append(("end", None)),
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
            },
        )

    async def next_part(self) -> Part | None:
        """The next part's headers, skipping what is left of the current one; None at the end of the body."""
        while True:
            while self._events:
                kind, value = self._events.popleft()
                if kind == "headers":
                    assert isinstance(value, Part)
                    return value
            if self._finished:
                return None
            await self._pump()

    async def read(self) -> bytes:
        """The next piece of the current part's data (up to ~PIECE_BYTES); b"" once the part has ended."""
        pieces: list[bytes] = []
        size = 0
        while True:
            while self._events and self._events[0][0] == "data":
                piece = self._events.popleft()[1]
                assert isinstance(piece, bytes)
                pieces.append(piece)
                size += len(piece)
                if size >= PIECE_BYTES:
                    return b"".join(pieces)
            if self._events and self._events[0][0] == "end":
                if not pieces:
                    self._events.popleft()
                return b"".join(pieces)
            if self._events:  # a new part began without an end: the parser would have raised
                return b"".join(pieces)
            if self._finished:
                raise InvalidRequest("The multipart body ended in the middle of a part.")
            await self._pump()

    async def read_field(self) -> str:
        """The whole value of the current (small) part as text."""
        value = bytearray()
        while piece := await self.read():
            value += piece
            if len(value) > self._max_field:
                raise InvalidRequest(f"A form field is longer than {self._max_field} bytes.")
        return value.decode("utf-8", errors="replace")

    async def _pump(self) -> None:
        try:
            chunk = await anext(self._body)
        except StopAsyncIteration:
            self._finished = True
            self._parser.finalize()
            return
        self._received += len(chunk)
        if self._received > self._max_body:
            raise PayloadTooLarge(
                "The request body is larger than the upload limit.", param="file", code="file_too_large"
            )
        try:
            self._parser.write(chunk)
        except FormParserError as exc:
            raise InvalidRequest(f"Malformed multipart body: {exc}") from exc

    def _on_part_begin(self) -> None:
        self._headers = {}

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._events.append(("data", data[start:end]))

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers[self._header_name.lower()] = self._header_value
        self._header_name = b""
        self._header_value = b""

    def _on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name")
        if name is None:
            raise InvalidRequest("A multipart part has no name in its Content-Disposition header.")
        filename = options.get(b"filename")
        content_type = self._headers.get(b"content-type")
        self._events.append(
            (
                "headers",
                Part(
                    name=name.decode("utf-8", errors="replace"),
                    filename=None if filename is None else filename.decode("utf-8", errors="replace"),
                    content_type=None if content_type is None else content_type.decode("latin-1"),
                ),
            )
        )


class Upload:
    """An upload of one file part plus form fields, read as it arrives: ``await Upload.open(headers, body, limit)``
    reads up to the file part; a worker thread then pulls the file with ``chunks()``, which also reads the fields
    that follow the file.
    """

    # Multipart framing around the file (boundaries, part headers, small fields) stays well under this.
    OVERHEAD = 64 * 1024

    def __init__(self, reader: MultipartReader, filename: str, fields: dict[str, str]) -> None:
        self._reader = reader
        self.filename = filename
        self.fields = fields

    @classmethod
    async def open(
        cls, content_type: str, content_length: str | None, body: AsyncIterator[bytes], max_file_bytes: int
    ) -> Upload:
        """Refuse a body whose declared length is already over the limit, then read up to the ``file`` part."""
        limit = max_file_bytes + cls.OVERHEAD
        if content_length and content_length.isdigit() and int(content_length) > limit:
            raise PayloadTooLarge(
                f"File is larger than the limit of {max_file_bytes} bytes.",
                param="file",
                code="file_too_large",
            )
        reader = MultipartReader(content_type, body, max_body_bytes=limit)
        fields: dict[str, str] = {}
        while (part := await reader.next_part()) is not None:
            if part.filename is None:
                fields[part.name] = await reader.read_field()
            elif part.name == "file":
                return cls(reader, part.filename, fields)
        raise InvalidRequest(
            "Missing the 'file' field: send the dataset as a multipart file part.", param="file"
        )

    def chunks(self) -> Iterator[bytes]:
        """The file's bytes, then the fields after it; call from a worker thread (``anyio.to_thread``)."""
        while piece := anyio.from_thread.run(self._reader.read):
            yield piece
        anyio.from_thread.run(self._read_remaining_fields)

    def field_or_later(self, name: str) -> str | Callable[[], str]:
        """The field's value if it came before the file, else what reads it once the body has been read."""
        return self.fields[name] if name in self.fields else lambda: self.field(name)

    def field(self, name: str) -> str:
        if name not in self.fields:
            raise InvalidRequest(f"Missing the '{name}' field.", param=name)
        return self.fields[name]

    async def _read_remaining_fields(self) -> None:
        while (part := await self._reader.next_part()) is not None:
            if part.filename is None:
                self.fields[part.name] = await self._reader.read_field()
