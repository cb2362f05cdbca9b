"""Errors the core raises; the API maps each to its HTTP status, the other channels log them."""

from __future__ import annotations


class SupportError(Exception):
    """Base of the errors a caller can cause; `status` is the HTTP status that reports it."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class Unauthorized(SupportError):
    status = 401


class Forbidden(SupportError):
    status = 403


class NotFound(SupportError):
    status = 404


class Conflict(SupportError):
    status = 409


class PreconditionFailed(SupportError):
    status = 412


class PayloadTooLarge(SupportError):
    status = 413


class InvalidInput(SupportError):
    status = 422


class VersionConflict(Exception):
    """A conditional write lost to a concurrent change of the same ticket."""


class IdCollision(Exception):
    """A freshly drawn ticket id already exists."""
