"""``/v1/files``: upload (streamed), list, get, download, delete — the shapes of OpenAI's Files API."""

from __future__ import annotations

from typing import Annotated, Literal, Self
from urllib.parse import quote

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import ConfigDict, Field

from app.deps import ArtifactsDep, ReadsDep, SettingsDep, StoreDep, TeamDep
from app.listing import APIObject, ListObject
from app.multipart import Upload
from rewriter.service import files
from rewriter.service.store import FileRecord

router = APIRouter(prefix="/v1/files", tags=["files"])


class FileObject(APIObject):
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

    @classmethod
    def from_record(cls, record: FileRecord) -> Self:
        """The stored file: its attributes are the object's fields."""
        return cls.model_validate(record, from_attributes=True)


class FileList(ListObject[FileObject]):
    """A page of the team's files."""


class FileDeleted(APIObject):
    object: Literal["file"] = "file"
    deleted: bool = True

    @classmethod
    def from_record(cls, record: FileRecord) -> Self:
        return cls(id=record.id)


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


@router.post("", openapi_extra=_UPLOAD_BODY)
async def create_file(
    request: Request, store: StoreDep, artifacts: ArtifactsDep, team: TeamDep, settings: SettingsDep
) -> FileObject:
    """Upload a dataset. The body is parsed as it arrives and the file streamed into storage while it is
    validated: memory stays flat and an oversized upload is refused as soon as it passes the limit."""
    limit = settings.api.max_upload_bytes
    headers = request.headers
    upload = await Upload.open(
        headers.get("content-type", ""), headers.get("content-length"), request.stream(), limit
    )
    record = await anyio.to_thread.run_sync(
        lambda: files.store_upload(
            store,
            artifacts,
            team,
            upload.filename,
            upload.field_or_later("purpose"),  # the purpose may follow the file
            upload.chunks(),
            max_bytes=limit,
            max_problems=settings.api.max_listed_problems,
        )
    )
    return FileObject.from_record(record)


@router.get("")
async def list_files(
    reads: ReadsDep,
    team: TeamDep,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    order: Literal["asc", "desc"] = "desc",
    purpose: str | None = None,
) -> FileList:
    page = await reads.files(team, after=after, limit=limit, order=order, purpose=purpose)
    return FileList.from_page(page, FileObject.from_record)


@router.get("/{file_id}")
async def get_file(file_id: str, reads: ReadsDep, team: TeamDep) -> FileObject:
    return FileObject.from_record(await reads.file(team, file_id))


@router.get("/{file_id}/content", response_class=StreamingResponse)
def download_file(file_id: str, store: StoreDep, artifacts: ArtifactsDep, team: TeamDep) -> StreamingResponse:
    record, content = files.open_content(store, artifacts, team, file_id)
    headers = {
        "Content-Length": str(record.bytes),
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(record.filename)}",
    }
    return StreamingResponse(content, media_type="application/octet-stream", headers=headers)


@router.delete("/{file_id}")
def delete_file(file_id: str, store: StoreDep, artifacts: ArtifactsDep, team: TeamDep) -> FileDeleted:
    return FileDeleted.from_record(files.delete_file(store, artifacts, team, file_id))
