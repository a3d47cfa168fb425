"""The one table that maps domain errors to HTTP, and the OpenAI error envelope for every 4xx/5xx answer.

``{"error": {"message": ..., "type": ..., "param": ..., "code": ...}}`` — the shape OpenAI's SDKs parse, for
domain errors, request validation errors, unknown routes and unexpected failures alike.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

import kombu.exceptions
import redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from rewriter.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    RewriterError,
    Unauthorized,
    Unavailable,
)
from rewriter.formats import DataFileError

log = logging.getLogger(__name__)

# domain error → (HTTP status, OpenAI error type). Looked up along the class's MRO, most specific first.
ERROR_TABLE: dict[type[Exception], tuple[int, str]] = {
    InvalidRequest: (400, "invalid_request_error"),
    DataFileError: (400, "invalid_request_error"),
    Unauthorized: (401, "invalid_request_error"),
    NotFound: (404, "invalid_request_error"),
    Conflict: (409, "invalid_request_error"),
    PayloadTooLarge: (413, "invalid_request_error"),
    Unavailable: (503, "server_error"),
    # Redis down or restarting (the store's client retried for api_patience_seconds first; docs/operations.md),
    # or the queue on it refusing a job.
    redis.ConnectionError: (503, "server_error"),
    redis.TimeoutError: (503, "server_error"),
    kombu.exceptions.OperationalError: (503, "server_error"),
}


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorEnvelope(BaseModel):
    error: ErrorBody


# For the OpenAPI document: the answers every /v1 route may give besides its own.
RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorEnvelope, "description": description}
    for status, description in (
        (400, "Invalid request: the message and param name the problem."),
        (401, "No or an unknown API key."),
        (404, "No such resource (or one of another team)."),
        (409, "The resource's state forbids the operation."),
        (503, "Redis or storage unreachable."),
    )
}


def envelope(
    status: int,
    message: str,
    type_: str,
    param: str | None = None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    extra = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    return JSONResponse(body, status_code=status, headers={**extra, **(headers or {})})


# Where pydantic names a union's member in an error's location (``seed.int``, ``n_epochs.literal['auto']``):
# not a field, so not part of the ``param``.
_MEMBER = re.compile(r"^(constrained-)?(str|int|float|bool|none|list|dict)$|\[")


def first_problem(errors: Sequence[Any]) -> tuple[str | None, str]:
    """(param, message) of a request validation error: the first error's field as a dotted path, and of the
    errors at that field (one per union member) the one that says what is wrong with the value rather than with
    its type.

    >>> first_problem([
    ...     {"loc": ("body", "verifier_options", "tolerance", "str"), "type": "string_type", "msg": "not a str"},
    ...     {"loc": ("body", "verifier_options", "tolerance", "float"), "type": "finite_number", "msg": "finite"},
    ... ])
    ('verifier_options.tolerance', 'finite')
    """
    if not errors:
        return None, "Invalid request."

    def param(error: Any) -> str | None:
        location = [str(part) for part in error.get("loc", ())]
        if location and location[0] in {"body", "query", "path", "header", "cookie"}:
            location = location[1:]
        if error.get("type") == "json_invalid":
            return None  # its location is a character offset
        return ".".join(part for part in location if not _MEMBER.search(part)) or None

    where = param(errors[0])
    same = [error for error in errors if param(error) == where]
    telling = [error for error in same if not str(error.get("type", "")).endswith(("_type", "literal_error"))]
    return where, str((telling or same)[0].get("msg", "Invalid request."))


def status_for(exc: Exception) -> tuple[int, str] | None:
    for cls in type(exc).__mro__:
        if cls in ERROR_TABLE:
            return ERROR_TABLE[cls]
    return None


def describe(exc: Exception) -> tuple[str, str | None, str | None]:
    """(message, param, code) for a mapped error."""
    if isinstance(exc, DataFileError):  # its text lists the first problems with their line numbers
        return f"Invalid file: {exc}", "file", "invalid_file"
    if isinstance(exc, RewriterError):
        return exc.message, exc.param, exc.code
    log.warning("backing service unavailable: %s: %s", type(exc).__name__, exc)
    return "The service is temporarily unavailable (its store cannot be reached); retry shortly.", None, None


def allowed_methods(request: Request, fallback: str) -> str:
    """The methods the request's path takes, from every documented route whose path template matches it (Starlette
    names only the first matching route's); ``fallback`` for a path the document does not list.

    HEAD comes with GET, as Starlette serves it."""
    methods: set[str] = set()
    paths: dict[str, dict[str, Any]] = request.app.openapi().get("paths", {})
    for template, operations in paths.items():
        if re.fullmatch(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)), request.url.path):
            methods |= {method.upper() for method in operations}
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods)) or fallback


def install(app: FastAPI) -> None:
    """Register the handlers that make every error answer an OpenAI envelope."""

    async def domain_error(request: Request, exc: Exception) -> JSONResponse:
        mapped = status_for(exc)
        if mapped is None:  # pragma: no cover - only registered for mapped classes
            return await unexpected(request, exc)
        message, param, code = describe(exc)
        return envelope(mapped[0], message, mapped[1], param, code)

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        param, message = first_problem(exc.errors())
        return envelope(
            400, f"Invalid value for {param}: {message}" if param else message, "invalid_request_error", param
        )

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            message = f"Unknown request URL: {request.method} {request.url.path}."
            return envelope(404, message, "invalid_request_error", code="unknown_url")
        kind = "server_error" if exc.status_code >= 500 else "invalid_request_error"
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette's Allow names one route's methods; the path may have several routes (GET and POST)
            headers["Allow"] = allowed_methods(request, headers.get("Allow", ""))
            message = f"{request.method} is not allowed on {request.url.path}; use {headers['Allow']}."
            return envelope(405, message, kind, code="method_not_allowed", headers=headers)
        return envelope(exc.status_code, str(exc.detail), kind, headers=headers)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return envelope(500, "The server had an error while processing your request.", "server_error")

    for cls in ERROR_TABLE:
        app.add_exception_handler(cls, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
