"""Artifacts (uploaded files, outputs, adapters, reports) through fsspec: a local folder or any fsspec URL.

Paths given to :class:`Artifacts` are relative (``files/team-x/file-y.jsonl``); the root comes from the URL, so the
same code runs against ``/srv/rewriter/artifacts`` and ``s3://bucket/prefix``.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import fsspec

from rewriter.errors import Unavailable

# 1 MiB reads keep a download's memory flat and its syscall count low (~1,000 reads per GiB).
CHUNK_BYTES = 1 << 20


class Artifacts:
    def __init__(self, url: str) -> None:
        self.url = url
        fs, root = fsspec.core.url_to_fs(url)
        self.fs: Any = fs
        self.root: str = root.rstrip("/") or "/"
        # Object stores make an object visible only when its upload completes, and have no folders to create.
        self._local = "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))

    def _full(self, path: str) -> str:
        clean = posixpath.normpath(path.lstrip("/"))
        if clean in {".", ""} or clean.startswith(".."):
            raise ValueError(f"storage paths are relative and stay under the root: {path!r}")
        return f"{self.root}/{clean}"

    @contextmanager
    def open_write(self, path: str) -> Iterator[IO[bytes]]:
        """Write ``path`` atomically: readers see the old content or the complete new one, never a prefix.

        The bytes go to a temporary name beside the target and are moved into place when the block exits
        without an exception; on an exception the temporary file is removed.
        """
        final = self._full(path)
        parent = posixpath.dirname(final)
        if self._local:
            self.fs.makedirs(parent, exist_ok=True)
        temporary = f"{parent}/.{posixpath.basename(final)}.{uuid.uuid4().hex}.part"
        try:
            with self.fs.open(temporary, "wb") as handle:
                yield handle
            self.fs.mv(temporary, final)
        except BaseException:
            if self.fs.exists(temporary):
                self.fs.rm(temporary)
            raise

    @contextmanager
    def open_read(self, path: str) -> Iterator[IO[bytes]]:
        with self.fs.open(self._full(path), "rb") as handle:
            yield handle

    def iter_chunks(self, path: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
        with self.open_read(path) as handle:
            while chunk := handle.read(chunk_bytes):
                yield chunk

    def exists(self, path: str) -> bool:
        return bool(self.fs.exists(self._full(path)))

    def size(self, path: str) -> int:
        return int(self.fs.size(self._full(path)))

    def delete(self, path: str) -> bool:
        """Remove ``path``; False when it was not there."""
        full = self._full(path)
        if not self.fs.exists(full):
            return False
        self.fs.rm(full)
        return True

    def put_file(self, local: str | os.PathLike[str], path: str) -> None:
        """Copy a local file to ``path`` (atomically, like :meth:`open_write`)."""
        with open(local, "rb") as source, self.open_write(path) as out:
            shutil.copyfileobj(source, out, CHUNK_BYTES)

    def put_dir(self, local: str | os.PathLike[str], path: str) -> list[str]:
        """Copy a local directory tree (a model, an adapter) under ``path``; returns the relative names copied."""
        root = Path(local)
        names = sorted(str(f.relative_to(root)) for f in root.rglob("*") if f.is_file())
        for name in names:
            self.put_file(root / name, f"{path}/{name}")
        return names

    def local_path(self, path: str) -> Path | None:
        """Where ``path`` is on this machine's disk, when the storage is a local folder; None for object stores."""
        return Path(self._full(path)) if self._local else None

    def get_dir(self, path: str, local: str | os.PathLike[str]) -> Path:
        """A local copy of the tree under ``path`` in ``local`` (made once: a ``.complete`` marker says it is)."""
        target = Path(local)
        if (target / ".complete").exists():
            return target
        target.mkdir(parents=True, exist_ok=True)
        prefix = self._full(path)
        for remote in self.fs.find(prefix):
            name = posixpath.relpath(remote, prefix)
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            self.fs.get(remote, str(target / name))
        (target / ".complete").touch()
        return target

    def check(self) -> None:
        """Raise Unavailable unless a small object can be written, read back and deleted (readiness)."""
        probe = f".probe/{uuid.uuid4().hex}"
        try:
            with self.open_write(probe) as handle:
                handle.write(b"ok")
            with self.open_read(probe) as handle:
                readable = handle.read() == b"ok"
            self.delete(probe)
        except Exception as exc:
            raise Unavailable(f"storage {self.url} is not usable: {exc}") from exc
        if not readable:
            raise Unavailable(f"storage {self.url} returned different bytes than written")
