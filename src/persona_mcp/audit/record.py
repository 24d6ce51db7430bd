"""The audit record: what one event says, and its canonical bytes.

A record is an `AuditEvent` (what the caller reports) plus the chain fields the writer assigns: `seq`,
`timestamp`, `instance_id`, `prev_hash` and `hash`. `hash` is the SHA-256 (hex) of the RFC 8785
canonical JSON of every other field, `prev_hash` included, so each record commits to all before it.

Every nested value (`arguments`, `details`) sorts before `prev_hash` and `seq` in canonical key order
and everything after them is a scalar; `verify` relies on that to read both from the stored bytes
without parsing each row (see `claimed_seq` / `claimed_prev_hash`).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, Literal

import rfc8785
from pydantic import BaseModel, ConfigDict, Field

GENESIS_HASH = "0" * 64

CALL_KINDS = ("call.intent", "call.outcome", "call.denied", "call.outcome_unknown")
KIND_PATTERN = (
    r"^(call\.(intent|outcome|denied|outcome_unknown|dry_run)"
    r"|approval\.(requested|approved|rejected|expired|used)"
    r"|admin\.[a-z0-9][a-z0-9_.-]{0,60})$"
)

Decision = Literal["allowed", "denied"]
Outcome = Literal["ok", "error", "unknown"]


class AuditEvent(BaseModel):
    """What happened, as reported by the call pipeline or an admin command.

    `arguments` must already be redacted (`AuditLog.redact_arguments`); the log never sees clear-text
    personal data. `details` of admin events never carry secrets (the `AdminEventSink` contract).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str = Field(
        pattern=KIND_PATTERN, description="call.intent|outcome|denied|outcome_unknown, admin.<action>"
    )
    call_id: str | None = Field(None, max_length=64, description="Correlates a call's intent and outcome.")
    principal: str | None = Field(None, description="Who holds the grant (the authenticated caller).")
    client_id: str | None = Field(None, description="OAuth client id of the caller, if any.")
    grant_id: str | None = Field(None, description="The grant the call used.")
    subject: str | None = Field(None, description="On-behalf-of subject named by the token, if any.")
    actor: str | None = Field(None, description="Acting party (admin commands: the operator).")
    session_id: str | None = Field(None, description="MCP session id.")
    client_name: str | None = Field(None, description="MCP client name (initialize clientInfo).")
    client_version: str | None = Field(None, description="MCP client version.")
    tool: str | None = Field(None, description="Tool name.")
    scope: str | None = Field(None, description="Scope the call was authorised by (or lacked).")
    decision: Decision | None = Field(None, description="Policy decision.")
    reason: str | None = Field(None, description="Why denied, or why the outcome is unknown.")
    arguments: dict[str, Any] | None = Field(None, description="Arguments with personal values digested.")
    upstream_method: str | None = Field(None, description="HTTP method sent to Persona.")
    upstream_path: str | None = Field(None, description="Path (no query string) sent to Persona.")
    upstream_status: int | None = Field(None, description="Final HTTP status from Persona.")
    persona_request_id: str | None = Field(None, description="Persona's request id (X-Request-Id).")
    object_ids: list[str] = Field(
        default_factory=list, description="Persona object ids the call named or touched (indexed)."
    )
    idempotency_key: str | None = Field(None, description="Idempotency-Key sent on every attempt.")
    attempts: int | None = Field(None, ge=0, description="Upstream attempts made (retries included).")
    latency_ms: float | None = Field(None, ge=0, description="Wall time of the call in milliseconds.")
    outcome: Outcome | None = Field(None, description="ok, error or unknown.")
    error_type: str | None = Field(None, description="Error class, e.g. PersonaRateLimitError.")
    error_kind: str | None = Field(None, description="Error family, e.g. rate_limited, upstream, network.")
    target: str | None = Field(None, description="Object an admin action changed (grant id, credential id).")
    details: dict[str, Any] | None = Field(None, description="Admin action details (never secrets).")


class AuditRecord(AuditEvent):
    """A committed record: the event plus its place in the chain."""

    seq: int = Field(ge=1, description="Position in the chain, from 1, without gaps.")
    timestamp: str = Field(description="UTC time of the commit, ISO 8601 with microseconds and Z.")
    instance_id: str = Field(description="Server instance that wrote the record.")
    prev_hash: str = Field(min_length=64, max_length=64, description="hash of seq - 1 (genesis: 64 zeros).")
    hash: str = Field(min_length=64, max_length=64, description="SHA-256 of the canonical record.")

    @classmethod
    def from_stored(cls, body: str, hash_: str) -> AuditRecord:
        """The record from its stored canonical body and hash column."""
        fields = json.loads(body)
        fields["hash"] = hash_
        return cls.model_validate(fields)

    @classmethod
    def from_sealed(cls, fields: dict[str, Any]) -> AuditRecord:
        """The record for fields the writer has just sealed, without validating them again.

        The writer calls this once per record while it holds the chain lock (and the GIL): the values
        were dumped from a validated `AuditEvent` and the chain fields are its own, so validation would
        only repeat itself. When `fields` names every field (the writer's case) the instance is filled
        directly, exactly as `model_construct` fills it (same `__dict__`, fields set, no extra, no
        private state) but without its per-field default lookup, ~10x cheaper; anything else goes
        through `model_construct`. `fields` is taken over, not copied.
        """
        if fields.keys() != _RECORD_FIELDS:
            return cls.model_construct(**fields)
        record = cls.__new__(cls)
        _set = object.__setattr__
        _set(record, "__dict__", fields)
        _set(record, "__pydantic_fields_set__", set(fields))
        _set(record, "__pydantic_extra__", None)
        _set(record, "__pydantic_private__", None)
        return record

    def canonical_bytes(self) -> bytes:
        """RFC 8785 encoding of every field except `hash`."""
        return canonical_bytes(self.model_dump(mode="json", exclude={"hash"}))


_RECORD_FIELDS = frozenset(AuditRecord.model_fields)


def canonical_bytes(fields: dict[str, Any]) -> bytes:
    """RFC 8785 (JCS) encoding: the exact bytes that are hashed and stored.

    The `rfc8785` package is pure Python and costs ~70 µs per record, most of the writer's CPU. For the
    values records actually hold (ASCII keys, safe integers, floats in plain notation) the C `json`
    encoder with sorted keys and no whitespace produces the same bytes, so that path is taken when
    `_json_safe` proves it applies; anything else goes through `rfc8785`. A property test holds the two
    equal over arbitrary JSON values.
    """
    if _json_safe(fields):
        try:
            return _FAST.encode(fields).encode()
        except UnicodeEncodeError:  # a lone surrogate: let rfc8785 refuse it with its own error
            pass
    encoded: bytes = rfc8785.dumps(fields)
    return encoded


_FAST = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)
_MAX_SAFE_INT = 2**53 - 1


def _json_safe(value: Any) -> bool:
    """Whether the C encoder's output is already RFC 8785 for `value`.

    Differences avoided: key order (Python sorts by code point, JCS by UTF-16 unit: equal for ASCII keys),
    integers beyond 2**53 (JCS refuses them), float notation (Python writes `1.0` and `1e+16` where
    ECMAScript writes `1` and `10000000000000000`; Python also switches to exponent notation below 1e-4,
    where ECMAScript does so only below 1e-6: both print the same plain digits for non-integral values
    in [1e-4, 1e15)). Strings are escaped identically by both.
    """
    if isinstance(value, str) or value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -_MAX_SAFE_INT <= value <= _MAX_SAFE_INT
    if isinstance(value, float):
        magnitude = abs(value)
        return not value.is_integer() and 1e-4 <= magnitude < 1e15
    if isinstance(value, dict):
        return all(isinstance(k, str) and k.isascii() and _json_safe(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_json_safe(v) for v in value)
    return False


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def utc_timestamp(now: datetime | None = None) -> str:
    """Fixed-width UTC timestamp, so that text order is time order in both databases."""
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


_PREV_KEY = '"prev_hash":"'
_SEQ_KEY = '"seq":'


def claimed_prev_hash(body: str) -> str | None:
    """The top-level `prev_hash` in canonical bytes, without parsing.

    Inside a canonical string every quote is escaped, so `"prev_hash":"` only ever appears as a key;
    nested keys of that name can only sit in `arguments`/`details`, which sort earlier, so the last
    occurrence is the top-level one.
    """
    at = body.rfind(_PREV_KEY)
    if at < 0:
        return None
    start = at + len(_PREV_KEY)
    return body[start : start + 64]


def claimed_seq(body: str) -> int | None:
    """The top-level `seq` in canonical bytes (last occurrence, for the same reason)."""
    at = body.rfind(_SEQ_KEY)
    if at < 0:
        return None
    start = at + len(_SEQ_KEY)
    end = body.find(",", start)
    try:
        return int(body[start : end if end >= 0 else len(body) - 1])
    except ValueError:
        return None


__all__ = [
    "CALL_KINDS",
    "GENESIS_HASH",
    "AuditEvent",
    "AuditRecord",
    "Decision",
    "Outcome",
    "canonical_bytes",
    "claimed_prev_hash",
    "claimed_seq",
    "digest",
    "parse_timestamp",
    "utc_timestamp",
]
