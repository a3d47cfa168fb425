"""``/v1/files``: upload (streamed), list, get, download, delete — the shapes of OpenAI's Files API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal
from urllib.parse import quote

import anyio
import anyio.from_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from app.deps import SettingsDep, StorageDep, StoreDep, TeamDep
from app.multipart import MultipartReader
from rewriter.errors import InvalidRequest, PayloadTooLarge
from rewriter.service import files
from rewriter.service.store import FileRecord

router = APIRouter(prefix="/v1/files", tags=["files"])

# Multipart framing around the file (boundaries, part headers, the purpose field) stays well under this.
MULTIPART_OVERHEAD = 64 * 1024


class FileObject(BaseModel):
    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    filename: str
    purpose: str
    status: Literal["processed"] = "processed"
    schema_: str = Field(alias="schema", description="qa | prompt_completion | messages")
    rows: int
    sha256: str

    model_config = ConfigDict(populate_by_name=True)


class FileList(BaseModel):
    object: Literal["list"] = "list"
    data: list[FileObject]
    has_more: bool
    first_id: str | None
    last_id: str | None


class FileDeleted(BaseModel):
    id: str
    object: Literal["file"] = "file"
    deleted: bool = True


def file_object(record: FileRecord) -> dict[str, object]:
    return {
        "id": record.id,
        "object": "file",
        "bytes": record.bytes,
        "created_at": record.created_at,
        "filename": record.filename,
        "purpose": record.purpose,
        "status": record.status,
        "schema": record.schema,
        "rows": record.rows,
        "sha256": record.sha256,
    }


_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "purpose"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "JSON Lines dataset."},
                        "purpose": {"type": "string", "enum": list(files.UPLOAD_PURPOSES)},
                    },
                }
            }
        },
    }
}


@router.post("", openapi_extra=_UPLOAD_BODY, response_model=FileObject)
async def create_file(
    request: Request, store: StoreDep, artifacts: StorageDep, team: TeamDep, settings: SettingsDep
) -> dict[str, object]:
    """Upload a dataset. The body is parsed as it arrives and the file streamed into storage while it is
    validated: memory stays flat and an oversized upload is refused as soon as it passes the limit."""
    limit = settings.api.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
        raise PayloadTooLarge(
            f"File is larger than the limit of {limit} bytes.", param="file", code="file_too_large"
        )
    reader = MultipartReader(
        request.headers.get("content-type", ""), request.stream(), max_body_bytes=limit + MULTIPART_OVERHEAD
    )
    fields: dict[str, str] = {}
    while (part := await reader.next_part()) is not None:
        if part.filename is None:
            fields[part.name] = await reader.read_field()
        elif part.name == "file":
            break
    else:
        raise InvalidRequest(
            "Missing the 'file' field: send the dataset as a multipart file part.", param="file"
        )
    filename = part.filename or ""

    def chunks() -> Iterator[bytes]:
        while piece := anyio.from_thread.run(reader.read):
            yield piece
        anyio.from_thread.run(read_remaining_fields)  # the purpose may come after the file

    async def read_remaining_fields() -> None:
        while (more := await reader.next_part()) is not None:
            if more.filename is None:
                fields[more.name] = await reader.read_field()

    def purpose() -> str:
        if "purpose" not in fields:
            raise InvalidRequest("Missing the 'purpose' field.", param="purpose")
        return fields["purpose"]

    record = await anyio.to_thread.run_sync(
        lambda: files.store_upload(
            store,
            artifacts,
            team,
            filename,
            fields.get("purpose", purpose),
            chunks(),
            max_bytes=limit,
            max_problems=settings.api.max_listed_problems,
        )
    )
    return file_object(record)


@router.get("", response_model=FileList)
def list_files(
    store: StoreDep,
    team: TeamDep,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    order: Literal["asc", "desc"] = "desc",
    purpose: str | None = None,
) -> dict[str, object]:
    page = files.list_files(store, team, after=after, limit=limit, order=order, purpose=purpose)
    data = [file_object(record) for record in page.data]
    return {
        "object": "list",
        "data": data,
        "has_more": page.has_more,
        "first_id": page.data[0].id if page.data else None,
        "last_id": page.data[-1].id if page.data else None,
    }


@router.get("/{file_id}", response_model=FileObject)
def get_file(file_id: str, store: StoreDep, team: TeamDep) -> dict[str, object]:
    return file_object(files.get_file(store, team, file_id))


@router.get("/{file_id}/content", response_class=StreamingResponse)
def download_file(file_id: str, store: StoreDep, artifacts: StorageDep, team: TeamDep) -> StreamingResponse:
    record, content = files.open_content(store, artifacts, team, file_id)
    headers = {
        "Content-Length": str(record.bytes),
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(record.filename)}",
    }
    return StreamingResponse(content, media_type="application/octet-stream", headers=headers)


@router.delete("/{file_id}", response_model=FileDeleted)
def delete_file(file_id: str, store: StoreDep, artifacts: StorageDep, team: TeamDep) -> dict[str, object]:
    record = files.delete_file(store, artifacts, team, file_id)
    return {"id": record.id, "object": "file", "deleted": True}
