"""Persona's error object: `{"errors": [{"title", "details", "source": {"pointer"}}]}`."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A failed call, carried up to the app's error handler and rendered as Persona renders it."""

    def __init__(
        self,
        status: int,
        title: str,
        details: str | None = None,
        *,
        pointer: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.details = details
        self.pointer = pointer
        self.headers = headers or {}

    def document(self) -> dict[str, Any]:
        error: dict[str, Any] = {"title": self.title}
        if self.details is not None:
            error["details"] = self.details
        if self.pointer is not None:
            error["source"] = {"pointer": self.pointer}
        return {"errors": [error]}


def not_found(kind: str, object_id: str) -> ApiError:
    return ApiError(404, "Record not found", f"Could not find {kind} with id {object_id}")


def invalid_attribute(attribute: str, details: str) -> ApiError:
    """422 for a request attribute that is missing or malformed, pointing at it as Persona does."""
    return ApiError(422, "Invalid attribute", details, pointer=f"/data/attributes/{attribute}")


def conflict(details: str) -> ApiError:
    return ApiError(409, "Conflict", details)


def bad_request(details: str, *, pointer: str | None = None) -> ApiError:
    return ApiError(400, "Bad request", details, pointer=pointer)
