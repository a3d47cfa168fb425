"""Talking to a running service over HTTP (``rewriter.client``): the shared ``--api-url`` / ``--api-key`` options
(or ``REWRITER_API_URL`` / ``REWRITER_API_KEY``), a client whose error answers become one line and exit code 2, and
the ``rewriter files|models ...`` commands. Jobs and evaluation runs are in ``cli.remote_jobs``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from rewriter.client import DEFAULT_URL, APIError, Client

ApiUrl = Annotated[str, typer.Option("--api-url", envvar="REWRITER_API_URL", help="the service's /v1 URL")]
ApiKey = Annotated[str | None, typer.Option("--api-key", envvar="REWRITER_API_KEY", help="an API key")]
Wait = Annotated[bool, typer.Option("--wait", help="follow the job until it ends")]

files_app = typer.Typer(no_args_is_help=True, help="Your team's files on the service.")
models_app = typer.Typer(no_args_is_help=True, help="Base and trained models.")


@contextmanager
def api(url: str, key: str | None) -> Iterator[Client]:
    """A client; an error answer becomes one line on stderr and exit code 2."""
    try:
        with Client(url, key) as client:
            yield client
    except APIError as exc:
        typer.echo(f"error: {exc.message}" + (f" (param: {exc.param})" if exc.param else ""), err=True)
        raise typer.Exit(2) from None


def show(obj: Any) -> None:
    typer.echo(json.dumps(obj.model_dump() if hasattr(obj, "model_dump") else obj, indent=2))


# ---- files ------------------------------------------------------------------------------------------------


@files_app.command("upload")
def files_upload(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL dataset")],
    purpose: Annotated[str, typer.Option(help="rewrite | fine-tune | eval")] = "rewrite",
    api_url: ApiUrl = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    """Upload a dataset; prints the file object (its id is what jobs take)."""
    with api(api_url, api_key) as client:
        show(client.upload_file(path, purpose))


@files_app.command("list")
def files_list(
    purpose: Annotated[str | None, typer.Option(help="only files of this purpose")] = None,
    api_url: ApiUrl = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    with api(api_url, api_key) as client:
        for file in client.list_files(purpose):
            typer.echo(
                f"{file.id}  {file.purpose:18s} {file.rows:8d} rows {file.bytes:12d} B  {file.filename}"
            )


@files_app.command("download")
def files_download(
    file_id: str,
    output: Annotated[Path, typer.Option("-o", "--output", help="where to write it")],
    api_url: ApiUrl = DEFAULT_URL,
    api_key: ApiKey = None,
) -> None:
    with api(api_url, api_key) as client:
        typer.echo(client.download_file(file_id, output))


# ---- models -----------------------------------------------------------------------------------------------


@models_app.command("list")
def models_list(api_url: ApiUrl = DEFAULT_URL, api_key: ApiKey = None) -> None:
    with api(api_url, api_key) as client:
        for model in client.list_models():
            lineage = model.lineage or {}
            origin = f"  from {lineage['parent']} by {lineage['fine_tuning_job']}" if lineage else ""
            typer.echo(f"{model.id:40s} {model.kind:8s}{origin}")
