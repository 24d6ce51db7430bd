"""Persona failures as a small class hierarchy chosen by HTTP status.

Message policy (why `str(error)` looks the way it does): an error message travels further than the error
object - into logs, tracebacks and, through careless code, to a language model. Persona's error `title` and
`details` are upstream free text and may echo request values (names, e-mail addresses), so they are never
copied into the message. `str(error)` is built only from trusted parts:

- the class name and the HTTP status (or "no HTTP response");
- Persona's `title`, but only when it is one of `SAFE_TITLES` (fixed strings from Persona's docs and
  OpenAPI spec), printed in our own spelling - any other title is withheld;
- JSON pointers of offending fields, only when they match a strict `/segment/segment` shape
  (letters, digits, `-`, `_`; at most eight segments) - pointers name fields, never values;
- the request id, only when it has Persona's `req_<letters and digits>` shape;
- the attempt count and, for client-side errors, a reason string written in this package.

The raw upstream parts stay available, unfiltered, on `error.errors` (a list of `ErrorDetail`) for code that
filters them itself; the response body as a whole is never kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel

from persona_mcp.persona.attempts import status_may_have_applied
from persona_mcp.persona.exchange import Exchange

#: Titles Persona documents (docs and OpenAPI examples); lower-cased key -> canonical spelling.
SAFE_TITLES: Mapping[str, str] = {
    title.lower(): title
    for title in (
        "Bad request",
        "Invalid parameters",
        "Must be authenticated to access this endpoint",
        "Token is invalid",
        "Unauthorized",
        "Forbidden",
        "IP address is not permitted access to current environment",
        "Not found",
        "Record not found",
        "Conflict",
        "Request Timeout",
        "Unprocessable entity",
        "Record invalid",
        "Rate limit exceeded",
        "Quota exceeded",
        "Internal server error",
        "Service unavailable",
    )
}

_POINTER = re.compile(r"(?:/[A-Za-z0-9_-]{1,64}){1,8}")
_REQUEST_ID = re.compile(r"req_[A-Za-z0-9]{1,64}")
_MAX_ERRORS = 50
_MAX_TEXT = 2000

#: Methods whose repetition cannot duplicate an effect, whatever happened to the first try.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


def safe_title(title: str | None) -> str | None:
    """Persona's title in canonical spelling if it is a known-safe one, else None."""
    if title is None:
        return None
    return SAFE_TITLES.get(title.strip().lower())


def safe_pointer(pointer: str | None) -> str | None:
    """The JSON pointer if it has the strict field-path shape, else None."""
    if pointer is not None and _POINTER.fullmatch(pointer):
        return pointer
    return None


def safe_request_id(request_id: str | None) -> str | None:
    """The request id if it has Persona's `req_...` shape, else None (it is upstream-supplied)."""
    if request_id is not None and _REQUEST_ID.fullmatch(request_id):
        return request_id
    return None


def _text(value: Any) -> str | None:
    return value[:_MAX_TEXT] if isinstance(value, str) else None


class ErrorDetail(BaseModel):
    """One entry of Persona's `errors` array. Upstream text: filter before showing it to anyone."""

    title: str | None = None
    details: str | None = None
    source_pointer: str | None = None
    code: str | None = None

    @classmethod
    def from_payload(cls, payload: Any) -> ErrorDetail | None:
        """Parse one `errors[]` entry, dropping members of the wrong type instead of failing."""
        if not isinstance(payload, Mapping):
            return None
        source = payload.get("source")
        pointer = source.get("pointer") if isinstance(source, Mapping) else None
        code = payload.get("code")
        return cls(
            title=_text(payload.get("title")),
            details=_text(payload.get("details", payload.get("detail"))),
            source_pointer=_text(pointer),
            code=_text(code) if isinstance(code, str) else (str(code) if isinstance(code, int) else None),
        )


def parse_error_details(body: Any) -> list[ErrorDetail]:
    """The `errors` array of an error body (already JSON-decoded), tolerating any shape."""
    if not isinstance(body, Mapping):
        return []
    entries = body.get("errors")
    if not isinstance(entries, list):
        return []
    parsed = (ErrorDetail.from_payload(entry) for entry in entries[:_MAX_ERRORS])
    return [detail for detail in parsed if detail is not None]


class PersonaError(Exception):
    """A Persona call that did not produce a usable response.

    `maybe_applied` says whether any attempt of the call may have been carried out by Persona (see
    `persona.attempts`): the client computes it from every attempt, not from the last status, because a
    lost answer followed by a 429 still leaves the first attempt possibly applied. Without a history (an
    error built by hand) it is guessed from the status.

    `retry_safe` tells the caller whether repeating the same call can neither duplicate an effect nor is
    bound to fail the same way: True for 429 and for failures of idempotent methods, or of any method when
    no attempt can have been applied; False for other 4xx and client-side refusals, and always False for a
    POST/PATCH that may have been applied (a new logical call would carry a new Idempotency-Key and could
    apply it twice) - no stated value overrides that.

    `reason` must be text written in this package (it goes into `str(error)` verbatim), never upstream text.
    """

    #: Shown in `str(error)` when Persona's own title is absent or not in `SAFE_TITLES`.
    default_title: ClassVar[str] = "Persona API error"

    def __init__(
        self,
        reason: str | None = None,
        *,
        status: int | None = None,
        request_id: str | None = None,
        errors: Iterable[ErrorDetail] = (),
        retry_after: float | None = None,
        attempts: int = 1,
        retry_safe: bool = False,
        maybe_applied: bool | None = None,
        method: str | None = None,
        path: str | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        self.reason = reason
        self.status = status
        self.request_id = request_id
        self.errors = list(errors)
        self.retry_after = retry_after
        self.attempts = attempts
        self.maybe_applied = (
            status_may_have_applied(status, attempts=attempts) if maybe_applied is None else maybe_applied
        )
        self._stated_retry_safe = retry_safe
        self.method = method
        self.path = path
        self.idempotency_key = idempotency_key
        #: Set by the client: the audit record of the call that failed.
        self.exchange: Exchange | None = None
        # Only our own reason goes into `args` (and so into repr); `__str__` is rebuilt from attributes.
        super().__init__(*((reason,) if reason else ()))

    @property
    def retry_safe(self) -> bool:
        """The stated safety, withdrawn whenever a non-idempotent request may already have been applied."""
        if self.maybe_applied and not _idempotent(self.method):
            return False
        return self._stated_retry_safe

    @property
    def safe_titles(self) -> list[str]:
        """Persona's titles that are in `SAFE_TITLES`, canonical spelling, without duplicates."""
        titles = (safe_title(detail.title) for detail in self.errors)
        return list(dict.fromkeys(t for t in titles if t is not None))

    @property
    def field_pointers(self) -> list[str]:
        """Source pointers of the offending fields that pass the strict shape check."""
        pointers = (safe_pointer(detail.source_pointer) for detail in self.errors)
        return list(dict.fromkeys(p for p in pointers if p is not None))

    def _message(self) -> str:
        titles = self.safe_titles
        title = titles[0] if titles else self.default_title
        parts = [f"HTTP {self.status} {title}" if self.status is not None else f"{title} (no HTTP response)"]
        if self.reason:
            parts.append(self.reason)
        if self.field_pointers:
            parts.append("fields " + ", ".join(self.field_pointers[:10]))
        if self.retry_after is not None:
            parts.append(f"retry after {self.retry_after:g}s")
        request_id = safe_request_id(self.request_id)
        if request_id:
            parts.append(f"request id {request_id}")
        if self.attempts == 0:
            parts.append("nothing sent")
        else:
            parts.append(f"{self.attempts} attempt{'s' if self.attempts != 1 else ''}")
        return "; ".join(parts)

    def __str__(self) -> str:
        return f"{type(self).__name__}: {self._message()}"


class BadRequestError(PersonaError):
    default_title = "Bad request"


class AuthenticationError(PersonaError):
    default_title = "Unauthorized"


class PermissionDeniedError(PersonaError):
    default_title = "Forbidden"


class NotFoundError(PersonaError):
    default_title = "Not found"


class ConflictError(PersonaError):
    default_title = "Conflict"


class UnprocessableEntityError(PersonaError):
    default_title = "Unprocessable entity"


class RateLimitedError(PersonaError):
    default_title = "Rate limit exceeded"


class ServerError(PersonaError):
    default_title = "Server error"


class UpstreamUnavailableError(PersonaError):
    """No HTTP response at all: connection refused or dropped, or a timeout, after all retries."""

    default_title = "Persona unreachable"


class UnexpectedResponseError(PersonaError):
    """A response whose body is not the JSON:API shape the call expects (or an unexpected status)."""

    default_title = "Unexpected response"


class UnsafePathError(PersonaError):
    """A request path refused by the client before anything was sent."""

    default_title = "Unsafe request path"

    def __init__(self, reason: str, **kwargs: Any) -> None:
        kwargs.setdefault("attempts", 0)
        super().__init__(reason, **kwargs)


_BY_STATUS: dict[int, type[PersonaError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitedError,
}


def error_class_for(status: int | None) -> type[PersonaError]:
    """The class `error_for_status` would choose."""
    if status is None:
        return UpstreamUnavailableError
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if 500 <= status <= 599:
        return ServerError
    if 400 <= status <= 499:
        return PersonaError
    return UnexpectedResponseError


def _idempotent(method: str | None) -> bool:
    return method is not None and method.upper() in IDEMPOTENT_METHODS


def default_retry_safe(status: int | None, method: str | None, *, maybe_applied: bool | None = None) -> bool:
    """Whether repeating the same call is safe and may succeed (see `PersonaError`).

    `maybe_applied` is the verdict over every attempt; None guesses it from `status` alone.
    """
    if maybe_applied is None:
        maybe_applied = status_may_have_applied(status, attempts=1)
    if maybe_applied and not _idempotent(method):
        return False
    if status == 429:
        return True
    if status is None or 500 <= status <= 599:
        return _idempotent(method) or not maybe_applied
    return False


def error_for_status(
    status: int | None,
    *,
    request_id: str | None = None,
    errors: Iterable[ErrorDetail] = (),
    retry_after: float | None = None,
    attempts: int = 1,
    retry_safe: bool | None = None,
    maybe_applied: bool | None = None,
    method: str | None = None,
    path: str | None = None,
    idempotency_key: str | None = None,
    reason: str | None = None,
) -> PersonaError:
    """Build the error of the class that matches `status` (None = no response was received).

    `maybe_applied` None guesses from the status alone (see `PersonaError`); the client passes the verdict
    over every attempt.
    """
    cls = error_class_for(status)
    if maybe_applied is None:
        maybe_applied = status_may_have_applied(status, attempts=attempts)
    if retry_safe is None:
        retry_safe = default_retry_safe(status, method, maybe_applied=maybe_applied)
    return cls(
        reason,
        status=status,
        request_id=request_id,
        errors=errors,
        retry_after=retry_after,
        attempts=attempts,
        retry_safe=retry_safe,
        maybe_applied=maybe_applied,
        method=method,
        path=path,
        idempotency_key=idempotency_key,
    )
