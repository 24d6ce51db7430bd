"""Inquiry sessions: one device's visit to an inquiry's hosted flow.

Covers the 6 tier-1 `inquiry_sessions.*` operations under the inquiry scopes (sessions belong to their
inquiry). Expiring sessions ends them and needs `inquiries:delete`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from persona_mcp.persona.ids import InquiryId, ObjectKind
from persona_mcp.pii import PII
from persona_mcp.tools.bodies import attributes_body
from persona_mcp.tools.factories import page_result
from persona_mcp.tools.family import Family
from persona_mcp.tools.inputs import ToolInput
from persona_mcp.tools.results import Instant, ObjectView, OneTimeLink, Page, Rel, Response, page_of
from persona_mcp.tools.spec import Effect, ToolContext, ToolSpec

# -- models ------------------------------------------------------------------------------------------------


class InquirySession(ObjectView):
    """An inquiry session as listed."""

    status: str | None = Field(None, description="new, active or expired.")
    inquiry_id: Annotated[str | None, Rel("inquiry")] = Field(None, description="inq_...")
    created_at: Instant = None


class InquirySessionDetail(InquirySession):
    """An inquiry session with its device facts."""

    expired_at: Instant = None
    ip_address: Annotated[str | None, PII] = Field(None, description="Device IP address.")
    country_code: str | None = Field(None, description="Country of the IP.")
    threat_level: str | None = Field(None, description="Device risk level.")


class InquirySessionResult(InquirySessionDetail, Response):
    """One session."""


class InquirySessionChanged(ObjectView, Response):
    """The session after the change."""

    status: str | None = Field(None, description="new, active or expired.")
    inquiry_id: Annotated[str | None, Rel("inquiry")] = Field(None, description="Inquiry (inq_...).")


class InquirySessionLinkResult(InquirySessionChanged, OneTimeLink):
    """A session with the one-time link Persona issued."""


class ListSessions(ToolInput):
    query_filters = {"inquiry_id": "filter[inquiry-id]"}

    inquiry_id: InquiryId | None = Field(None, description="Only this inquiry.")


class CreateSession(ToolInput):
    inquiry_id: InquiryId = Field(description="The inquiry.")


class ExpireAllSessions(ToolInput):
    inquiry_ids: list[InquiryId] = Field(
        min_length=1, max_length=100, description="Inquiries whose sessions expire."
    )


# -- handlers ----------------------------------------------------------------------------------------------


def _create_body(args: CreateSession) -> dict[str, Any]:
    return attributes_body({"inquiry-id": args.inquiry_id})


async def expire_all(ctx: ToolContext, args: ExpireAllSessions) -> Page:
    """Bulk expiry answers with the expired sessions, a collection rather than one object."""
    ctx.touch(*args.inquiry_ids)
    response = await ctx.persona.post(
        "/inquiry-sessions/expire-all",
        json={"meta": {"inquiry-ids": list(args.inquiry_ids)}},
        idempotency_key=ctx.idempotency_key,
    )
    return page_result(ctx, page_of(InquirySession), InquirySession, response)


# -- specs ---------------------------------------------------------------------------------------------------

SESSIONS = Family(toolset="inquiry_sessions", kind=ObjectKind.INQUIRY_SESSION, changed=InquirySessionChanged)

list_inquiry_sessions = SESSIONS.list(
    """List inquiry sessions (device visits).
    Use this when you need an inquiry's sessions.
    IDs: list_inquiries.""",
    input_model=ListSessions,
    view=InquirySession,
)

get_inquiry_session = SESSIONS.get(
    """Read one session: status, IP and device risk.
    Use this when you need a session's details.""",
    result=InquirySessionResult,
)

create_inquiry_session = SESSIONS.create(
    """Open a new session for an inquiry.
    Use this when an embedded flow needs one.
    IDs: list_inquiries.
    Do not use it for a user link: generate_inquiry_link.""",
    input_model=CreateSession,
    body=_create_body,
)

expire_inquiry_session = SESSIONS.expire(
    """End one session now; the inquiry stays open.
    Use this when a device must be cut off.
    Do not use it to stop the inquiry: expire_inquiry."""
)

expire_all_inquiry_sessions = SESSIONS.custom(
    "expire_all_inquiry_sessions",
    "Expire every session of inquiries",
    """End every session of some inquiries.
    Use this when all devices must be cut off.
    IDs: list_inquiries.
    Do not use it for one session: expire_inquiry_session.""",
    effect=Effect.DESTRUCTIVE,
    ops=("expire_all",),
    input_model=ExpireAllSessions,
    output_model=page_of(InquirySession),
    handler=expire_all,
    idempotent=True,
)

generate_inquiry_session_link = SESSIONS.write(
    "generate_inquiry_session_link",
    "Generate a one-time session link",
    """Issue a single-use link to one session.
    Use this when that session must continue.
    Do not use it otherwise: generate_inquiry_link.""",
    result=InquirySessionLinkResult,
    at="POST /generate-one-time-link",
)

TOOLS: tuple[ToolSpec[Any, Any], ...] = SESSIONS.declared()
