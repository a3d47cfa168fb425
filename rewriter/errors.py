"""Domain errors. They carry a message and the offending parameter, never an HTTP status.

``app/errors.py`` holds the one table that maps each class to a status code and an OpenAI error type.
"""

from __future__ import annotations


class RewriterError(Exception):
    """Base of every error a caller of the domain library may want to report to a user."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


class InvalidRequest(RewriterError):
    """The request cannot be served as given: a bad value, a missing field, a wrong combination."""


class NotFound(RewriterError):
    """No such resource — or one that belongs to another team, which must be indistinguishable."""


class Conflict(RewriterError):
    """The resource exists but is in a state that forbids the operation (cancelling a finished job)."""


class PayloadTooLarge(RewriterError):
    """An upload went past the configured size limit."""


class Unauthorized(RewriterError):
    """No API key, or one that maps to no team."""


class Unavailable(RewriterError):
    """A backing service (Redis, the artifact store) cannot be reached right now; retrying later may work."""
