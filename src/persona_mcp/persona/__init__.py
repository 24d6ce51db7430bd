"""Persona REST client: JSON:API envelope, pagination, errors, retries, idempotency, rate limits."""

from persona_mcp.persona.client import FileResponse, PersonaClient, PersonaResponse
from persona_mcp.persona.credentials import ApiKeyCredential, CredentialProvider
from persona_mcp.persona.envelope import Document, Links, Relationship, Resource, ResourceIdentifier
from persona_mcp.persona.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ErrorDetail,
    NotFoundError,
    PermissionDeniedError,
    PersonaError,
    RateLimitedError,
    ServerError,
    UnexpectedResponseError,
    UnprocessableEntityError,
    UnsafePathError,
    UpstreamUnavailableError,
    error_for_status,
)
from persona_mcp.persona.exchange import Exchange
from persona_mcp.persona.ids import InvalidIdError, ObjectKind, validate_id
from persona_mcp.persona.paths import check_path
from persona_mcp.persona.ratelimit import RateGate
from persona_mcp.persona.retry import RetryPolicy

__all__ = [
    "ApiKeyCredential",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "CredentialProvider",
    "Document",
    "ErrorDetail",
    "Exchange",
    "FileResponse",
    "InvalidIdError",
    "Links",
    "NotFoundError",
    "ObjectKind",
    "PermissionDeniedError",
    "PersonaClient",
    "PersonaError",
    "PersonaResponse",
    "RateGate",
    "RateLimitedError",
    "Relationship",
    "Resource",
    "ResourceIdentifier",
    "RetryPolicy",
    "ServerError",
    "UnexpectedResponseError",
    "UnprocessableEntityError",
    "UnsafePathError",
    "UpstreamUnavailableError",
    "check_path",
    "error_for_status",
    "validate_id",
]
