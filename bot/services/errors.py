"""Domain errors: each carries text a user can act on, safe to show as it is.

Adapters show `str(error)` to the user (ephemerally) or map the class to a status code;
they never need to know the details.
"""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy.exc import StatementError


class GuaranteeError(Exception):
    """Base of every error whose message is written for the person who caused it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotFoundError(GuaranteeError):
    """The thing asked about does not exist (or is not visible to the caller)."""


class PermissionDeniedError(GuaranteeError):
    """The caller may not do this."""


class ConflictError(GuaranteeError):
    """The request collides with the current state (already done, in progress, ...)."""


def error_text(exc: BaseException, limit: int = 2000) -> str:
    """An exception as it may be stored beside failed work (`last_error`) or logged: never the values it was
    given. An SQL error keeps only the first line of the database's message (no statement, no bound
    parameters, no DETAIL naming a key's value); a validation error only where and what failed."""
    if isinstance(exc, StatementError):
        cause = exc.orig if exc.orig is not None else exc
        first = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
        text = f"{type(exc).__name__} ({type(cause).__name__}): {first}"
    elif isinstance(exc, ValidationError):
        problems = exc.errors(include_url=False, include_input=False, include_context=False)
        where = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['type']}" for e in problems)
        text = f"ValidationError: {where}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return text[:limit]
