"""Domain errors: each carries text a user can act on, safe to show as it is.

Adapters show `str(error)` to the user (ephemerally) or map the class to a status code;
they never need to know the details.
"""

from __future__ import annotations


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
