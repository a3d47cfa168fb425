"""Files: uploads streamed into storage while they are hashed and validated, then recorded; list, get, delete.

An upload is read once, chunk by chunk: each chunk is counted, hashed, written to a temporary artifact and handed
to ``rewriter.formats.validate_stream``, so memory stays flat whatever the size. Nothing is recorded until the
whole file is known to be valid; a refused upload leaves no artifact behind.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from rewriter.errors import InvalidRequest, PayloadTooLarge
from rewriter.formats import DataFileError, validate_stream
from rewriter.ids import Prefix, new_id, now
from rewriter.service.artifacts import Artifacts
from rewriter.service.store import FileRecord, Order, Page, Store

# What a user may upload a file for. Files the service writes (job outputs, reports) get their own purposes
# through `record_file`.
UPLOAD_PURPOSES = ("rewrite", "fine-tune", "eval")
MAX_FILENAME = 255


def store_upload(
    store: Store,
    artifacts: Artifacts,
    team: str,
    filename: str,
    purpose: str | Callable[[], str],
    chunks: Iterable[bytes],
    *,
    max_bytes: int,
    max_problems: int = 20,
) -> FileRecord:
    """Stream ``chunks`` into artifacts, validate them as a dataset, and record the file.

    ``purpose`` may be a callable, resolved after the last chunk: a multipart body may carry the purpose field
    after the file. Raises PayloadTooLarge past ``max_bytes``, DataFileError when lines are not a dataset (with
    their line numbers), InvalidRequest for a bad purpose or filename; in every such case nothing is recorded
    and no artifact is left.
    """
    name = _clean_filename(filename)
    if isinstance(purpose, str):
        _check_purpose(purpose)
    file_id = new_id(Prefix.FILE)
    path = f"files/{team}/{file_id}.jsonl"
    digest = hashlib.sha256()
    size = 0

    def counted(sink: Callable[[bytes], object]) -> Iterator[bytes]:
        nonlocal size
        for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:
                raise PayloadTooLarge(
                    f"File is larger than the limit of {max_bytes} bytes.",
                    param="file",
                    code="file_too_large",
                )
            digest.update(chunk)
            sink(chunk)
            yield chunk

    with artifacts.open_write(path) as out:
        fed = counted(out.write)
        try:
            summary = validate_stream(fed, max_problems=max_problems)
        except DataFileError:
            if size > max_bytes:  # the validator may have wrapped our size error; size wins
                raise PayloadTooLarge(
                    f"File is larger than the limit of {max_bytes} bytes.",
                    param="file",
                    code="file_too_large",
                ) from None
            raise
        for _ in fed:  # a validator that stopped early must not leave the artifact short
            pass
        if summary.rows == 0:
            raise InvalidRequest(
                "The file has no rows: upload JSON Lines, one example per line.", param="file"
            )
        resolved = purpose() if callable(purpose) else purpose
        _check_purpose(resolved)
    record = FileRecord(
        id=file_id,
        team=team,
        filename=name,
        purpose=resolved,
        bytes=size,
        created_at=now(),
        schema=str(summary.schema),
        rows=summary.rows,
        sha256=digest.hexdigest(),
        path=path,
    )
    try:
        store.add_file(record)
    except BaseException:
        artifacts.delete(path)
        raise
    return record


def record_file(
    store: Store,
    artifacts: Artifacts,
    team: str,
    path: str,
    *,
    filename: str,
    purpose: str,
    schema: str,
    rows: int,
) -> FileRecord:
    """Record an artifact the service wrote itself (a job's output) as a file the team can download."""
    digest = hashlib.sha256()
    size = 0
    for chunk in artifacts.iter_chunks(path):
        digest.update(chunk)
        size += len(chunk)
    record = FileRecord(
        id=new_id(Prefix.FILE),
        team=team,
        filename=_clean_filename(filename),
        purpose=purpose,
        bytes=size,
        created_at=now(),
        schema=schema,
        rows=rows,
        sha256=digest.hexdigest(),
        path=path,
    )
    store.add_file(record)
    return record


def publish(
    store: Store,
    artifacts: Artifacts,
    team: str,
    local: Path,
    path: str,
    *,
    filename: str,
    purpose: str,
    schema: str,
    rows: int,
) -> FileRecord:
    """Copy a file a job wrote on local disk into storage at ``path`` and record it as a file of the team."""
    artifacts.put_file(local, path)
    return record_file(
        store, artifacts, team, path, filename=filename, purpose=purpose, schema=schema, rows=rows
    )


def fetch(store: Store, artifacts: Artifacts, team: str, file_id: str, dest: Path) -> FileRecord:
    """A local copy of the team's file at ``dest``, made once (atomically): a rerun of a job finds it there."""
    record = store.get_file(file_id, team=team)
    if not dest.exists() or dest.stat().st_size != record.bytes:
        dest.parent.mkdir(parents=True, exist_ok=True)
        # A name of this process's own: a job's processes on one host (its own and its helpers) may fetch at once.
        partial = dest.with_name(f".{dest.name}.{os.getpid()}.part")
        with partial.open("wb") as out:
            for chunk in artifacts.iter_chunks(record.path):
                out.write(chunk)
        os.replace(partial, dest)
    return record


def list_files(
    store: Store,
    team: str,
    *,
    after: str | None = None,
    limit: int = 100,
    order: Order = "desc",
    purpose: str | None = None,
) -> Page[FileRecord]:
    return store.list_files(team, after=after, limit=limit, order=order, purpose=purpose)


def get_file(store: Store, team: str, file_id: str) -> FileRecord:
    return store.get_file(file_id, team=team)


def delete_file(store: Store, artifacts: Artifacts, team: str, file_id: str) -> FileRecord:
    """Forget the file, then remove its artifact (a crash in between leaves an orphan, never a dangling id)."""
    record = store.delete_file(file_id, team=team)
    artifacts.delete(record.path)
    return record


def open_content(
    store: Store, artifacts: Artifacts, team: str, file_id: str
) -> tuple[FileRecord, Iterator[bytes]]:
    """The file's record and an iterator over its bytes; NotFound is raised here, before any byte is sent."""
    record = store.get_file(file_id, team=team)
    return record, artifacts.iter_chunks(record.path)


def _clean_filename(filename: str) -> str:
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name:
        raise InvalidRequest("The uploaded file needs a filename.", param="file")
    return name[:MAX_FILENAME]


def _check_purpose(purpose: str) -> None:
    if purpose not in UPLOAD_PURPOSES:
        raise InvalidRequest(
            f"Invalid purpose {purpose!r}: expected one of {', '.join(UPLOAD_PURPOSES)}.", param="purpose"
        )
