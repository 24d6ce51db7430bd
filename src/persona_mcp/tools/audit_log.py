"""Reviewer tools over this server's own audit log (toolset "audit", scope audit:read).

They never call Persona. The server hands them an `AuditReader` in `ToolContext.audit`
(`persona_mcp.audit.AuditLogReader.for_log(log)`); personal values in recorded arguments stay as keyed
digests, and a reviewer looks a person up by giving the value, which is digested the same way.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol

from pydantic import Field

from persona_mcp.auth.scopes import Scope
from persona_mcp.pii import FIXED_PATTERN, PII
from persona_mcp.tools.describe import describe
from persona_mcp.tools.inputs import AnyObjectId, ToolInput
from persona_mcp.tools.results import ResultModel
from persona_mcp.tools.spec import Effect, ToolContext, ToolSpec

TOOLSET = "audit"


class AuditReader(Protocol):
    """What the reviewer tools need from the audit log (implemented by `persona_mcp.audit.AuditLogReader`)."""

    async def find(
        self,
        *,
        principal: str | None = None,
        grant_id: str | None = None,
        tool: str | None = None,
        kind: str | None = None,
        decision: str | None = None,
        outcome: str | None = None,
        object_id: str | None = None,
        call_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        unresolved: bool = False,
        email: str | None = None,
        phone: str | None = None,
        value: str | None = None,
        limit: int = 50,
    ) -> Sequence[Mapping[str, Any]]: ...

    async def verify(self) -> Mapping[str, Any]: ...

    def scoped(self, environments: frozenset[str] | None) -> AuditReader:
        """The same log, limited to calls made in these environments (None: every record)."""
        ...


def reader_for(reader: AuditReader, environment: str, scopes: Collection[Scope]) -> AuditReader:
    """The audit log as one caller may read it: the calls of its own grant's environment only, unless its
    grant also holds `audit:all_environments` (a sandbox reviewer must not read production records)."""
    if Scope.AUDIT_ALL_ENVIRONMENTS in scopes:
        return reader.scoped(None)
    return reader.scoped(frozenset({environment}))


class AuditLogUnavailableError(RuntimeError):
    """The server did not attach the audit reader to this call's context (a wiring error)."""


def audit_reader(ctx: ToolContext) -> AuditReader:
    """The reader the server put in `ctx.audit`, or a clear error if it is missing."""
    reader = getattr(ctx, "audit", None)
    if reader is None:
        raise AuditLogUnavailableError("the audit log is not available to this server's tools")
    found: AuditReader = reader
    return found


# -- models ------------------------------------------------------------------------------------------------


class QueryAuditLog(ToolInput):
    principal: str | None = Field(None, max_length=255, description="Only calls by this principal.")
    grant_id: str | None = Field(None, max_length=64, description="Only calls under this grant.")
    tool: str | None = Field(
        None, max_length=128, description="Only calls of this tool, e.g. approve_inquiry."
    )
    kind: Literal["call.intent", "call.outcome", "call.denied", "call.outcome_unknown"] | None = Field(
        None, description="Only records of this kind."
    )
    decision: Literal["allowed", "denied"] | None = Field(None, description="Only allowed or denied calls.")
    outcome: Literal["ok", "error", "unknown"] | None = Field(None, description="Only this outcome.")
    # A search term, not an object this call acts on: kept in clear, but not indexed under the object.
    object_id: Annotated[AnyObjectId | None, FIXED_PATTERN] = Field(
        None, description="Only calls touching this Persona id."
    )
    call_id: str | None = Field(None, max_length=64, description="One call: its intent and outcome.")
    since: Annotated[datetime | None, FIXED_PATTERN] = Field(
        None, description="At or after this time (ISO 8601)."
    )
    until: Annotated[datetime | None, FIXED_PATTERN] = Field(None, description="Before this time (ISO 8601).")
    unresolved: bool = Field(
        False,
        description="Only calls whose effect in Persona is unknown, one record each.",
    )
    # Personal values: the audit record of this very call must keep them as digests, not in clear.
    email: Annotated[str | None, PII] = Field(
        None, max_length=320, description="Calls with this e-mail in arguments."
    )
    phone: Annotated[str | None, PII] = Field(
        None, max_length=40, description="Calls with this phone in arguments."
    )
    value: Annotated[str | None, PII] = Field(
        None, max_length=500, description="Calls with this value in arguments."
    )
    limit: int = Field(50, ge=1, le=500, description="At most this many records, newest first.")


class AuditEntry(ResultModel):
    """One audit record (personal values in arguments are keyed digests)."""

    seq: int = Field(description="Position in the chain.")
    timestamp: str = Field(description="UTC time it was committed.")
    kind: str = Field(description="call.intent, call.outcome, call.denied, call.outcome_unknown, admin.*")
    call_id: str | None = Field(None, description="Correlates intent and outcome.")
    principal: str | None = Field(None, description="Caller principal.")
    grant_id: str | None = Field(None, description="Grant used.")
    subject: str | None = Field(None, description="On-behalf-of subject.")
    actor: str | None = Field(None, description="Operator of an admin action.")
    client_name: str | None = Field(None, description="MCP client name.")
    tool: str | None = Field(None, description="Tool called.")
    scope: str | None = Field(None, description="Scope used or missing.")
    decision: str | None = Field(None, description="allowed or denied.")
    reason: str | None = Field(None, description="Why denied or why unknown.")
    arguments: dict[str, Any] | None = Field(None, description="Arguments, personal values digested.")
    upstream_method: str | None = Field(None, description="HTTP method sent to Persona.")
    upstream_path: str | None = Field(None, description="Path sent to Persona.")
    upstream_status: int | None = Field(None, description="Persona's HTTP status.")
    persona_request_id: str | None = Field(None, description="Persona's request id.")
    object_ids: list[str] = Field(default_factory=list, description="Persona ids named or touched.")
    idempotency_key: str | None = Field(None, description="Idempotency-Key sent.")
    outcome: str | None = Field(None, description="ok, error or unknown.")
    error_kind: str | None = Field(None, description="Error family when the call failed.")
    latency_ms: float | None = Field(None, description="Duration in milliseconds.")
    target: str | None = Field(None, description="Object an admin action changed.")
    hash: str = Field(description="The record's chain hash.")


class AuditEntries(ResultModel):
    """Matching audit records, newest first."""

    records: list[AuditEntry] = Field(description="Records, newest first.")
    truncated: bool = Field(description="True when more records matched than the limit.")


class VerifyAuditLog(ToolInput):
    """No arguments: the whole log is verified."""


class AuditVerification(ResultModel):
    """Whether the log's hash chain, search columns and signed checkpoints are intact, and anchored."""

    ok: bool = Field(description="True only when status is ok.")
    status: Literal["ok", "unanchored", "broken"] = Field(
        description="ok: intact, and a checkpoint kept outside the database confirms it; unanchored: "
        "intact, but nothing outside the database vouches for it; broken: see first_break_*."
    )
    records: int = Field(description="Records verified.")
    last_seq: int = Field(description="Last sequence number verified.")
    anchored_through_seq: int = Field(
        description="Last position a checkpoint kept outside the database confirms (0: none)."
    )
    checkpoints_checked: int = Field(description="Signed checkpoints examined.")
    checkpoints_matched: int = Field(description="Checkpoint positions the chain matched.")
    first_break_kind: str | None = Field(
        None, description="edited, deleted, inserted, reordered, truncated, rewritten or bad_signature."
    )
    first_break_seq: int | None = Field(None, description="First sequence number affected.")
    first_break_detail: str | None = Field(None, description="What was found there.")


# -- handlers ------------------------------------------------------------------------------------------------


async def query_audit_log(ctx: ToolContext, args: QueryAuditLog) -> AuditEntries:
    rows = await audit_reader(ctx).find(**args.model_dump(exclude={"limit"}), limit=args.limit + 1)
    fields = AuditEntry.model_fields
    entries = [AuditEntry.model_validate({k: v for k, v in row.items() if k in fields}) for row in rows]
    return AuditEntries(records=entries[: args.limit], truncated=len(entries) > args.limit)


async def verify_audit_log(ctx: ToolContext, _args: VerifyAuditLog) -> AuditVerification:
    return AuditVerification.model_validate(dict(await audit_reader(ctx).verify()))


# -- specs ---------------------------------------------------------------------------------------------------

query_audit_log_tool = ToolSpec(
    name="query_audit_log",
    toolset=TOOLSET,
    title="Query the audit log",
    description=describe(
        "This server's audit records: who called which tool, when, and what came of it.",
        use_when="reviewing an agent's calls, an object's calls or denied calls; email/phone/value "
        "match by keyed digest. Limited to your grant's environment.",
        avoid="to read Persona data: it only shows this server's own records.",
    ),
    scope=Scope.AUDIT_READ,
    effect=Effect.READ,
    input_model=QueryAuditLog,
    output_model=AuditEntries,
    operations=(),
    handler=query_audit_log,
)

verify_audit_log_tool = ToolSpec(
    name="verify_audit_log",
    toolset=TOOLSET,
    title="Verify the audit log",
    description=describe(
        "Recompute the audit log's hash chain, columns and signed checkpoints: ok, unanchored (no "
        "checkpoint kept outside the database) or broken (first break).",
        use_when="you need evidence that no audit record was edited, deleted, inserted or reordered.",
        avoid="repeatedly in a loop: it reads the whole log.",
    ),
    scope=Scope.AUDIT_READ,
    effect=Effect.READ,
    input_model=VerifyAuditLog,
    output_model=AuditVerification,
    operations=(),
    handler=verify_audit_log,
)

TOOLS: tuple[ToolSpec[Any, Any], ...] = (query_audit_log_tool, verify_audit_log_tool)

__all__ = [
    "TOOLS",
    "AuditEntries",
    "AuditEntry",
    "AuditLogUnavailableError",
    "AuditReader",
    "AuditVerification",
    "QueryAuditLog",
    "VerifyAuditLog",
    "audit_reader",
    "reader_for",
]
