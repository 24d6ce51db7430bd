"""Inquiries: one verification attempt by one person, from creation through decision.

Covers the 18 tier-1 `inquiries.*` operations. Decisions (approve, decline, mark for review) need
`inquiries:decide`; redact and expire end the lifecycle and need `inquiries:delete`. The PDF is written to
the server and returned as an MCP resource link (`persona-mcp://files/<id>`) the calling grant can read,
never as a server path nor as base64 text in the result.
"""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field

from persona_mcp.persona.ids import AccountId, InquiryId, InquiryTemplateId, ObjectKind
from persona_mcp.pii import OBJECT_ID, PII
from persona_mcp.tools.bodies import attributes_body, meta_body, pick
from persona_mcp.tools.factories import path_for
from persona_mcp.tools.family import Family
from persona_mcp.tools.input_rules import AtLeastOne, ExactlyOne, OnlyFor
from persona_mcp.tools.inputs import (
    CountryCode,
    CustomFields,
    InquiryTemplateVersionId,
    PageInput,
    ReferenceId,
    Timestamp,
    ToolInput,
)
from persona_mcp.tools.person import PersonFields
from persona_mcp.tools.results import Attr, Instant, ObjectView, OneTimeLink, Rel, Response, plain_fields
from persona_mcp.tools.saved_files import SavedFileResult
from persona_mcp.tools.search import SearchInput
from persona_mcp.tools.spec import ToolContext, ToolSpec


class InquiryStatus(StrEnum):
    """Persona's inquiry statuses (PROTOCOL.md section 14)."""

    CREATED = "created"
    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"
    NEEDS_REVIEW = "needs_review"
    APPROVED = "approved"
    DECLINED = "declined"


# -- models ------------------------------------------------------------------------------------------------


class Inquiry(ObjectView):
    """An inquiry as listed: enough to pick one, then read it with get_inquiry."""

    status: str | None = Field(None, description="Inquiry status.")
    reference_id: str | None = Field(None, description="Your id for the user.")
    account_id: Annotated[str | None, Rel("account")] = Field(None, description="act_...")
    inquiry_template_id: Annotated[str | None, Rel("inquiry-template")] = Field(None, description="itmpl_...")
    tags: list[str] = Field(default_factory=list, description="Tag names.")
    created_at: Instant = None


class InquiryDetail(Inquiry):
    """An inquiry with its collected fields."""

    note: Annotated[str | None, PII] = Field(None, description="Free-text note.")
    fields: Annotated[dict[str, Any] | None, PII, Attr("fields", plain_fields)] = Field(
        None, description="Collected fields, plain values."
    )
    expires_at: Instant = None
    redacted_at: str | None = Field(None, description="Set once redacted.")
    verification_ids: Annotated[list[str], Rel("verifications")] = Field(
        default_factory=list, description="ver_..."
    )
    document_ids: Annotated[list[str], Rel("documents")] = Field(default_factory=list, description="doc_...")


class InquiryResult(InquiryDetail, Response):
    """One inquiry."""


class InquiryChanged(ObjectView, Response):
    """The inquiry after the change (read it with get_inquiry for every detail)."""

    status: str | None = Field(None, description="Inquiry status.")
    tags: list[str] = Field(default_factory=list, description="Tag names.")


class InquiryLinkResult(InquiryChanged, OneTimeLink):
    """An inquiry with the one-time link Persona issued (when it issued one)."""


class InquiryPdf(SavedFileResult, Response):
    """The inquiry's PDF as an MCP resource: unmasked personal data, readable by the calling grant only."""


class InquiryRef(ToolInput):
    inquiry_id: InquiryId = Field(description="The inquiry.")


class ListInquiries(PageInput):
    query_filters = {
        "account_id": "filter[account-id]",
        "reference_id": "filter[reference-id]",
        "status": "filter[status]",
        "inquiry_template_id": "filter[inquiry-template-id]",
        "created_after": "filter[created-at-start]",
        "created_before": "filter[created-at-end]",
    }

    account_id: AccountId | None = Field(None, description="Only this account.")
    reference_id: ReferenceId | None = Field(None, description="Only this reference id.")
    status: InquiryStatus | None = Field(None, description="Only this status.")
    inquiry_template_id: InquiryTemplateId | None = Field(None, description="Only this template.")
    created_after: Timestamp | None = Field(None, description="Created at or after.")
    created_before: Timestamp | None = Field(None, description="Created at or before.")


class SearchInquiries(SearchInput):
    """Search inquiries by attribute predicates."""


class CreateInquiry(ToolInput):
    inquiry_template_id: InquiryTemplateId | None = Field(
        None, description="Template to run (or give a version)."
    )
    inquiry_template_version_id: InquiryTemplateVersionId | None = Field(
        None, description="Exact template version."
    )
    account_id: AccountId | None = Field(None, description="Account it belongs to.")
    reference_id: ReferenceId | None = Field(None, description="Your id for the user (not PII).")
    note: Annotated[str | None, PII] = Field(None, max_length=2000, description="Free-text note.")
    tags: list[Annotated[str, Field(min_length=1, max_length=255)]] | None = Field(
        None, max_length=100, description="Tag names."
    )
    fields: Annotated[CustomFields | None, PII] = Field(None, description="Prefilled fields: key -> value.")
    redirect_uri: str | None = Field(
        None, pattern=r"^https?://[^\s]{1,2000}$", description="Where the flow ends."
    )
    one_time_link: bool = Field(False, description="Also issue a one-time link.")
    expires_in_seconds: int | None = Field(None, ge=60, le=31_536_000, description="Expire after (s).")

    rules = (ExactlyOne("inquiry_template_id", "inquiry_template_version_id"),)


class UpdateInquiry(ToolInput):
    inquiry_id: InquiryId = Field(description="The inquiry.")
    note: Annotated[str | None, PII] = Field(None, max_length=2000, description="New note.")
    tags: list[Annotated[str, Field(min_length=1, max_length=255)]] | None = Field(
        None, max_length=100, description="New complete list of tag names."
    )
    fields: Annotated[CustomFields | None, PII] = Field(None, description="Fields to change: key -> value.")
    redirect_uri: str | None = Field(
        None, pattern=r"^https?://[^\s]{1,2000}$", description="New redirect URI."
    )

    rules = (AtLeastOne(("note", "tags", "fields", "redirect_uri")),)


class DecideInquiry(ToolInput):
    inquiry_id: InquiryId = Field(description="The inquiry.")
    comment: Annotated[str | None, PII] = Field(None, max_length=2000, description="Reviewer comment.")


class InquiryLink(ToolInput):
    inquiry_id: InquiryId = Field(description="The inquiry.")
    expires_in_seconds: int | None = Field(None, ge=60, le=604_800, description="Link lifetime (s).")


class SimulateActionType(StrEnum):
    START = "start_inquiry"
    COMPLETE = "complete_inquiry"
    FAIL = "fail_inquiry"
    EXPIRE = "expire_inquiry"
    MARK_FOR_REVIEW = "mark_for_review_inquiry"
    APPROVE = "approve_inquiry"
    DECLINE = "decline_inquiry"
    PASSED_VERIFICATION = "create_passed_verification"
    FAILED_VERIFICATION = "create_failed_verification"


_VERIFICATION_ACTIONS = {SimulateActionType.PASSED_VERIFICATION, SimulateActionType.FAILED_VERIFICATION}


class SimulateAction(ToolInput):
    """One simulated step."""

    type: SimulateActionType = Field(description="The step to simulate.")
    verification_template_id: Annotated[str | None, OBJECT_ID] = Field(
        None, pattern=r"^vtmpl_[A-Za-z0-9]{1,64}$", description="create_*_verification only."
    )

    rules = (
        OnlyFor("verification_template_id", "type", tuple(sorted(_VERIFICATION_ACTIONS)), required=True),
    )

    def payload(self) -> dict[str, Any]:
        if self.verification_template_id is None:
            return {"type": self.type.value}
        return {"type": self.type.value, "data": {"verification-template-id": self.verification_template_id}}


class SimulateInquiry(ToolInput):
    inquiry_id: InquiryId = Field(description="A sandbox inquiry.")
    actions: list[SimulateAction] = Field(min_length=1, max_length=20, description="Steps, in order.")


class SimulateStubs(PersonFields):
    inquiry_id: InquiryId = Field(description="A sandbox inquiry.")
    address_country_code: CountryCode | None = Field(None, description="ISO 3166-1 alpha-2 country.")


_STUB_NAMES = tuple(name for name in SimulateStubs.model_fields if name != "inquiry_id")

# -- bodies, filters, handlers -----------------------------------------------------------------------------


def _create_body(args: CreateInquiry) -> dict[str, Any]:
    attributes = pick(
        args,
        ("inquiry_template_id", "inquiry_template_version_id", "account_id", "reference_id", "note"),
    ) | pick(args, ("tags", "fields", "redirect_uri"))
    meta: dict[str, Any] = {}
    if args.one_time_link:
        meta["auto-create-one-time-link"] = True
    if args.expires_in_seconds is not None:
        meta["expiration-after-create-interval-seconds"] = args.expires_in_seconds
    return attributes_body(attributes, meta)


def _update_body(args: UpdateInquiry) -> dict[str, Any]:
    return attributes_body(pick(args, ("note", "tags", "fields", "redirect_uri")))


def _decision_body(args: DecideInquiry) -> dict[str, Any] | None:
    return meta_body(pick(args, ("comment",)))


def _link_body(args: InquiryLink) -> dict[str, Any] | None:
    return meta_body(pick(args, ("expires_in_seconds",)))


def _simulate_body(args: SimulateInquiry) -> dict[str, Any]:
    return {"meta": {"simulate-actions": [action.payload() for action in args.actions]}}


def _stubs_body(args: SimulateStubs) -> dict[str, Any]:
    return {"meta": {"fields-stubs": pick(args, _STUB_NAMES)}}


_PDF = "application/pdf"


async def print_pdf(ctx: ToolContext, args: InquiryRef) -> InquiryPdf:
    """Save the unmasked PDF as a resource of the caller's grant; the server deletes it after the retention.

    The same PDF printed again by the same grant is the same resource (content-addressed), renewed.
    """
    if ctx.files is None:
        raise RuntimeError("print_inquiry_pdf needs the server's file store")
    response = await ctx.persona.get_file(path_for("/inquiries/{inquiry_id}/print", args))
    ctx.touch(args.inquiry_id)
    media_type = response.content_type.split(";")[0].strip().lower()
    saved = await ctx.files.save(
        response.content,
        name=f"{args.inquiry_id}.pdf",
        # Only our own constant is reported: Persona's header text never passes through.
        mime_type=_PDF if media_type == _PDF else "application/octet-stream",
        object_id=args.inquiry_id,
    )
    return InquiryPdf.of(saved, request_id=response.request_id)


# -- specs ---------------------------------------------------------------------------------------------------

INQUIRIES = Family(toolset="inquiries", kind=ObjectKind.INQUIRY, changed=InquiryChanged)
#: The sandbox-only tools: an opt-in toolset of their own (tests and demos, not daily review).
SIMULATION = replace(INQUIRIES, toolset="simulation", operations="inquiries")

_DECIDED = "the inquiry's status does not allow this decision (it may be decided already); check it with "
_DECIDED += "get_inquiry"

list_inquiries = INQUIRIES.list(
    """List inquiries, newest first, by account, status, template or date.
    Use this when you need a user's inquiries or those in a status.
    Do not use it to match fields: use search_inquiries.""",
    input_model=ListInquiries,
    view=Inquiry,
)

search_inquiries = INQUIRIES.search(input_model=SearchInquiries, view=Inquiry)

get_inquiry = INQUIRIES.get(
    """Read one inquiry with its fields and verification ids.
    Use this when you need an inquiry's state.""",
    result=InquiryResult,
)

create_inquiry = INQUIRIES.create(
    """Start a verification from an inquiry template; can issue a link.
    Use this when a user must be (re)verified.
    IDs: templates: Persona dashboard; accounts: list_accounts.
    Do not use it for a link to an existing one: generate_inquiry_link.""",
    input_model=CreateInquiry,
    result=InquiryLinkResult,
    body=_create_body,
)

update_inquiry = INQUIRIES.update(
    """Change an inquiry's note, tags, fields or redirect URI.
    Use this when details must be corrected.
    Do not use it to decide: use approve_inquiry.""",
    input_model=UpdateInquiry,
    body=_update_body,
)

redact_inquiry = INQUIRIES.redact(
    """Erase the personal data of an inquiry and its checks, for good.
    Use this when a confirmed erasure request asks for it.
    Do not use it to stop an inquiry: use expire_inquiry."""
)

approve_inquiry, decline_inquiry = (
    INQUIRIES.decide(
        f"{verb}_inquiry",
        f"{verb.capitalize()} an inquiry",
        f"""{verb.capitalize()} an inquiry (a final decision).
        Use this when a review found the person {outcome}.
        Do not use it without a review: it triggers workflows.""",
        input_model=DecideInquiry,
        at=f"POST /{verb}",
        body=_decision_body,
        idempotent=True,
        conflict_hint=_DECIDED,
    )
    for verb, outcome in (("approve", "verified"), ("decline", "not verified"))
)

mark_inquiry_for_review = INQUIRIES.decide(
    "mark_inquiry_for_review",
    "Mark an inquiry for review",
    """Put an inquiry into needs_review.
    Use this when a human must review it first.
    Do not use it on decided inquiries: Persona refuses.""",
    at="POST /mark-for-review",
    idempotent=True,
    conflict_hint="an inquiry that is already approved or declined cannot be marked for review",
)

expire_inquiry = INQUIRIES.expire(
    """Expire an inquiry now; its sessions and links stop.
    Use this when the user must not continue.
    Do not use it to erase data: use redact_inquiry.""",
    conflict_hint="the inquiry cannot be expired in its current status; check it with get_inquiry",
)

resume_inquiry = INQUIRIES.write(
    "resume_inquiry",
    "Resume an inquiry",
    """Reopen a pending or expired inquiry.
    Use this when the user must finish it.
    Do not use it on redacted or decided inquiries.""",
    at="POST /resume",
    conflict_hint="only inquiries in status pending or expired (and not redacted) can be resumed; "
    "check the status with get_inquiry",
)

generate_inquiry_link = INQUIRIES.write(
    "generate_inquiry_link",
    "Generate a one-time inquiry link",
    """Issue a single-use link to an inquiry's hosted flow.
    Use this when the user needs a browser link.
    Do not use it for expired inquiries: resume_inquiry first.""",
    input_model=InquiryLink,
    result=InquiryLinkResult,
    at="POST /generate-one-time-link",
    body=_link_body,
    conflict_hint="no one-time link for an expired inquiry; use resume_inquiry first",
)

print_inquiry_pdf = INQUIRIES.read(
    "print_inquiry_pdf",
    "Inquiry PDF",
    """Get the inquiry PDF (unmasked personal data) as a resource link.
    Use this when a reviewer needs the document.
    Do not use it to read data: use get_inquiry.""",
    op="print_pdf",
    input_model=InquiryRef,
    output_model=InquiryPdf,
    handler=print_pdf,
    unmaskable=True,
)

add_inquiry_tag, remove_inquiry_tag, set_inquiry_tags = INQUIRIES.tag_tools()

simulate_inquiry_actions = SIMULATION.write(
    "simulate_inquiry_actions",
    "Simulate inquiry steps (sandbox)",
    """Sandbox only: drive an inquiry through steps (start, complete, approve...).
    Use this when testing with sandbox data.
    Do not use it in production.""",
    input_model=SimulateInquiry,
    at="POST /perform-simulate-actions",
    body=_simulate_body,
    sandbox_only=True,
)

set_inquiry_simulate_stubs = SIMULATION.write(
    "set_inquiry_simulate_stubs",
    "Preset simulated user input (sandbox)",
    """Sandbox only: preset what a simulated user enters.
    Use this when tests need specific names or dates.
    Do not use it in production.""",
    input_model=SimulateStubs,
    at="PATCH /set-simulate-stubs",
    body=_stubs_body,
    idempotent=True,
    sandbox_only=True,
)

TOOLS: tuple[ToolSpec[Any, Any], ...] = INQUIRIES.declared()
