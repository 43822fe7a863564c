"""Errors that carry an HTTP meaning, raised by logic and turned into responses at the API edge."""

from __future__ import annotations

from typing import Any, TypeVar


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.fields = fields or []
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.fields:
            body["fields"] = self.fields
        return body


def invalid(field: str, message: str) -> ApiError:
    return ApiError(400, "validation_error", f"{field}: {message}", [{"field": field, "message": message}])


def unknown(field: str, message: str) -> ApiError:
    """A well-formed request naming something that does not exist: 404, with the field that names it."""
    return ApiError(404, "not_found", f"{field}: {message}", [{"field": field, "message": message}])


def mismatch(field: str, message: str) -> ApiError:
    """A well-formed request that does not fit what exists (an object's declared fields, a template's channel):
    409, with the field at fault. 400 is kept for what the request alone gets wrong."""
    return ApiError(409, "conflict", f"{field}: {message}", [{"field": field, "message": message}])


def not_found(what: str, key: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} {key} does not exist")


T = TypeVar("T")


def require(value: T | None, what: str, key: str) -> T:
    """The looked-up item, or the 404 that names it."""
    if value is None:
        raise not_found(what, key)
    return value
