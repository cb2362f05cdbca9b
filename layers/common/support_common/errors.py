"""Errors the core raises when a caller asks for something it may not have; no HTTP here.

The API maps each to its status in one table (`api/errors.py`); email logs them as rejections.
"""

from __future__ import annotations


class SupportError(Exception):
    """Base of the errors a caller can cause; `field` names the offending input, if one."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class Unauthorized(SupportError):
    """No verified identity."""


class Forbidden(SupportError):
    """The caller is known but may not do this (e.g. only support staff may)."""


class NotFound(SupportError):
    """No such thing, or not one the caller may see."""


class Conflict(SupportError):
    """The change conflicts with the current state (e.g. an invalid status transition)."""


class PreconditionFailed(SupportError):
    """The caller's precondition (If-Match) no longer holds."""


class PayloadTooLarge(SupportError):
    """The request is larger than the API accepts."""


class InvalidInput(SupportError):
    """The input breaks a rule; the message says which."""


class VersionConflict(Exception):
    """A conditional write lost to a concurrent change of the same ticket."""


class IdCollision(Exception):
    """A freshly drawn ticket id already exists."""
