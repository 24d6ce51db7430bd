"""Inquiries: one verification attempt by one person, from creation through decision.

Covers the 18 tier-1 `inquiries.*` operations. Decisions (approve, decline, mark for review) need
`inquiries:decide`; redact and expire end the lifecycle and need `inquiries:delete`. The PDF is written to
the server and returned as an MCP resource link (`persona-mcp://files/<id>`) the calling grant can read,
never as a server path nor as base64 text in the result.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field

from persona_mcp.auth.scopes import Scope
from persona_mcp.persona.ids import AccountId, InquiryId, InquiryTemplateId, ObjectKind
from persona_mcp.pii import OBJECT_ID, PII
from persona_mcp.tools.bodies import attributes_body, meta_body, pick
from persona_mcp.tools.describe import describe
from persona_mcp.tools.factories import Method, action_tool, get_tool, list_tool, path_for
from persona_mcp.tools.input_rules import AtLeastOne, ExactlyOne, OnlyFor
from persona_mcp.tools.inputs import (
    CountryCode,
    CustomFields,
    Email,
    InquiryTemplateVersionId,
    PageInput,
    Phone,
    ReferenceId,
    Timestamp,
    ToolInput,
    iso,
)
from persona_mcp.tools.results import Attr, Meta, ObjectView, Page, Rel, Response, plain_fields
from persona_mcp.tools.saved_files import SavedFileResult
from persona_mcp.tools.search import SearchInput, search_tool
from persona_mcp.tools.spec import Activity, Effect, ToolContext, ToolSpec
from persona_mcp.tools.tags import OneTag, TagSet, one_tag_body, tag_set_body

TOOLSET = "inquiries"


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
    created_at: str | None = Field(None, description="ISO 8601.")


class InquiryDetail(Inquiry):
    """An inquiry with its collected fields."""

    note: Annotated[str | None, PII] = Field(None, description="Free-text note.")
    fields: Annotated[dict[str, Any] | None, PII, Attr("fields", plain_fields)] = Field(
        None, description="Collected fields, plain values."
    )
    expires_at: str | None = Field(None, description="ISO 8601.")
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


class InquiryLinkResult(InquiryChanged):
    """An inquiry with the one-time link Persona issued (when it issued one)."""

    one_time_link: Annotated[str | None, Meta("one-time-link")] = Field(
        None, description="Single-use link to the hosted flow."
    )
    one_time_link_short: Annotated[str | None, Meta("one-time-link-short")] = Field(
        None, description="Short form of the link."
    )


class InquiryPage(Page):
    items: list[Inquiry] = Field(description="Inquiries on this page, newest first.")


class InquiryPdf(SavedFileResult, Response):
    """The inquiry's PDF as an MCP resource: unmasked personal data, readable by the calling grant only."""


class InquiryRef(ToolInput):
    inquiry_id: InquiryId = Field(description="The inquiry.")


class ListInquiries(PageInput):
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


class InquiryTag(OneTag):
    inquiry_id: InquiryId = Field(description="The inquiry.")


class InquiryTags(TagSet):
    inquiry_id: InquiryId = Field(description="The inquiry.")


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


class SimulateStubs(ToolInput):
    inquiry_id: InquiryId = Field(description="A sandbox inquiry.")
    name_first: Annotated[str | None, PII] = Field(None, description="First name.")
    name_middle: Annotated[str | None, PII] = Field(None, description="Middle name.")
    name_last: Annotated[str | None, PII] = Field(None, description="Last name.")
    birthdate: Annotated[date | None, PII] = Field(None, description="Date of birth.")
    email_address: Annotated[Email | None, PII] = Field(None, description="E-mail address.")
    phone_number: Annotated[Phone | None, PII] = Field(None, description="Phone number.")
    address_street_1: Annotated[str | None, PII] = Field(None, description="Street 1.")
    address_street_2: Annotated[str | None, PII] = Field(None, description="Street 2.")
    address_city: Annotated[str | None, PII] = Field(None, description="City.")
    address_subdivision: Annotated[str | None, PII] = Field(None, description="State.")
    address_postal_code: Annotated[str | None, PII] = Field(None, max_length=32, description="Postal code.")
    address_country_code: CountryCode | None = Field(None, description="ISO 3166-1 alpha-2 country.")


_STUB_NAMES = tuple(name for name in SimulateStubs.model_fields if name != "inquiry_id")

# -- bodies, filters, handlers -----------------------------------------------------------------------------


def _list_filters(args: ListInquiries) -> dict[str, str]:
    names = {
        "account_id": "filter[account-id]",
        "reference_id": "filter[reference-id]",
        "status": "filter[status]",
        "inquiry_template_id": "filter[inquiry-template-id]",
        "created_after": "filter[created-at-start]",
        "created_before": "filter[created-at-end]",
    }
    values = {param: getattr(args, name) for name, param in names.items() if getattr(args, name) is not None}
    return {
        param: iso(value) if isinstance(value, datetime) else str(value) for param, value in values.items()
    }


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

_ONE = "/inquiries/{inquiry_id}"
_IDS = "list_inquiries."


def _decision(
    name: str, title: str, operation: str, path: str, summary: str, use_when: str
) -> ToolSpec[Any, Any]:
    return action_tool(
        name=name,
        toolset=TOOLSET,
        title=title,
        description=describe(
            summary, use_when=use_when, ids=_IDS, avoid="without a review: it triggers workflows."
        ),
        scope=Scope.INQUIRIES_DECIDE,
        effect=Effect.DESTRUCTIVE,
        operation=operation,
        input_model=DecideInquiry,
        result=InquiryChanged,
        method=Method.POST,
        path=_ONE + path,
        body=_decision_body,
        idempotent=True,
        conflict_hint="the inquiry's status does not allow this decision (it may be decided already); "
        "check it with get_inquiry",
    )


list_inquiries = list_tool(
    name="list_inquiries",
    toolset=TOOLSET,
    title="List inquiries",
    description=describe(
        "List inquiries, newest first, by account, status, template or date.",
        use_when="you need a user's inquiries or those in a status.",
        avoid="to match fields: use search_inquiries.",
    ),
    scope=Scope.INQUIRIES_READ,
    operation="inquiries.list",
    input_model=ListInquiries,
    page=InquiryPage,
    view=Inquiry,
    path="/inquiries",
    finds=ObjectKind.INQUIRY,
    filters=_list_filters,
)

search_inquiries = search_tool(
    name="search_inquiries",
    toolset=TOOLSET,
    title="Search inquiries",
    description=describe(
        "Search inquiries by conditions on attributes (snake_case).",
        use_when="list_inquiries' filters are not enough.",
        avoid="for changes of the last minute: the index lags.",
    ),
    scope=Scope.INQUIRIES_READ,
    input_model=SearchInquiries,
    operation="inquiries.search",
    page=InquiryPage,
    view=Inquiry,
    path="/inquiries/search",
    finds=ObjectKind.INQUIRY,
)

get_inquiry = get_tool(
    name="get_inquiry",
    toolset=TOOLSET,
    title="Get an inquiry",
    description=describe(
        "Read one inquiry with its fields and verification ids.",
        use_when="you need an inquiry's state.",
        ids=_IDS,
    ),
    scope=Scope.INQUIRIES_READ,
    operation="inquiries.retrieve",
    input_model=InquiryRef,
    result=InquiryResult,
    path=_ONE,
)

create_inquiry = action_tool(
    name="create_inquiry",
    toolset=TOOLSET,
    title="Create an inquiry",
    description=describe(
        "Start a verification from an inquiry template; can issue a link.",
        use_when="a user must be (re)verified.",
        ids="templates: Persona dashboard; accounts: list_accounts.",
        avoid="for a link to an existing one: generate_inquiry_link.",
    ),
    scope=Scope.INQUIRIES_WRITE,
    effect=Effect.WRITE,
    activity=Activity.CREATE,
    operation="inquiries.create",
    input_model=CreateInquiry,
    result=InquiryLinkResult,
    method=Method.POST,
    path="/inquiries",
    body=_create_body,
)

update_inquiry = action_tool(
    name="update_inquiry",
    toolset=TOOLSET,
    title="Update an inquiry",
    description=describe(
        "Change an inquiry's note, tags, fields or redirect URI.",
        use_when="details must be corrected.",
        ids=_IDS,
        avoid="to decide: use approve_inquiry.",
    ),
    scope=Scope.INQUIRIES_WRITE,
    effect=Effect.WRITE,
    operation="inquiries.update",
    input_model=UpdateInquiry,
    result=InquiryChanged,
    method=Method.PATCH,
    path=_ONE,
    body=_update_body,
    idempotent=True,
)

redact_inquiry = action_tool(
    name="redact_inquiry",
    toolset=TOOLSET,
    title="Redact an inquiry (irreversible)",
    description=describe(
        "Erase the personal data of an inquiry and its checks, for good.",
        use_when="a confirmed erasure request asks for it.",
        ids=_IDS,
        avoid="to stop an inquiry: use expire_inquiry.",
    ),
    scope=Scope.INQUIRIES_DELETE,
    effect=Effect.DESTRUCTIVE,
    activity=Activity.DELETE,
    operation="inquiries.redact",
    input_model=InquiryRef,
    result=InquiryChanged,
    method=Method.DELETE,
    path=_ONE,
    idempotent=True,
)

approve_inquiry = _decision(
    "approve_inquiry",
    "Approve an inquiry",
    "inquiries.approve",
    "/approve",
    "Approve an inquiry (a final decision).",
    "a review found the person verified.",
)

decline_inquiry = _decision(
    "decline_inquiry",
    "Decline an inquiry",
    "inquiries.decline",
    "/decline",
    "Decline an inquiry (a final decision).",
    "a review found the person not verified.",
)

mark_inquiry_for_review = action_tool(
    name="mark_inquiry_for_review",
    toolset=TOOLSET,
    title="Mark an inquiry for review",
    description=describe(
        "Put an inquiry into needs_review.",
        use_when="a human must review it first.",
        ids=_IDS,
        avoid="on decided inquiries: Persona refuses.",
    ),
    scope=Scope.INQUIRIES_DECIDE,
    effect=Effect.DESTRUCTIVE,
    operation="inquiries.mark_for_review",
    input_model=InquiryRef,
    result=InquiryChanged,
    method=Method.POST,
    path=_ONE + "/mark-for-review",
    idempotent=True,
    conflict_hint="an inquiry that is already approved or declined cannot be marked for review",
)

expire_inquiry = action_tool(
    name="expire_inquiry",
    toolset=TOOLSET,
    title="Expire an inquiry",
    description=describe(
        "Expire an inquiry now; its sessions and links stop.",
        use_when="the user must not continue.",
        ids=_IDS,
        avoid="to erase data: use redact_inquiry.",
    ),
    scope=Scope.INQUIRIES_DELETE,
    effect=Effect.DESTRUCTIVE,
    operation="inquiries.expire",
    input_model=InquiryRef,
    result=InquiryChanged,
    method=Method.POST,
    path=_ONE + "/expire",
    idempotent=True,
    conflict_hint="the inquiry cannot be expired in its current status; check it with get_inquiry",
)

resume_inquiry = action_tool(
    name="resume_inquiry",
    toolset=TOOLSET,
    title="Resume an inquiry",
    description=describe(
        "Reopen a pending or expired inquiry.",
        use_when="the user must finish it.",
        ids=_IDS,
        avoid="on redacted or decided inquiries.",
    ),
    scope=Scope.INQUIRIES_WRITE,
    effect=Effect.WRITE,
    operation="inquiries.resume",
    input_model=InquiryRef,
    result=InquiryChanged,
    method=Method.POST,
    path=_ONE + "/resume",
    conflict_hint="only inquiries in status pending or expired (and not redacted) can be resumed; "
    "check the status with get_inquiry",
)

generate_inquiry_link = action_tool(
    name="generate_inquiry_link",
    toolset=TOOLSET,
    title="Generate a one-time inquiry link",
    description=describe(
        "Issue a single-use link to an inquiry's hosted flow.",
        use_when="the user needs a browser link.",
        ids=_IDS,
        avoid="for expired inquiries: resume_inquiry first.",
    ),
    scope=Scope.INQUIRIES_WRITE,
    effect=Effect.WRITE,
    operation="inquiries.generate_one_time_link",
    input_model=InquiryLink,
    result=InquiryLinkResult,
    method=Method.POST,
    path=_ONE + "/generate-one-time-link",
    body=_link_body,
    conflict_hint="no one-time link for an expired inquiry; use resume_inquiry first",
)

print_inquiry_pdf = ToolSpec(
    name="print_inquiry_pdf",
    toolset=TOOLSET,
    title="Inquiry PDF",
    description=describe(
        "Get the inquiry PDF (unmasked personal data) as a resource link.",
        use_when="a reviewer needs the document.",
        ids=_IDS,
        avoid="to read data: use get_inquiry.",
    ),
    scope=Scope.INQUIRIES_READ,
    effect=Effect.READ,
    input_model=InquiryRef,
    output_model=InquiryPdf,
    operations=("inquiries.print_pdf",),
    handler=print_pdf,
    unmaskable=True,
)

add_inquiry_tag = action_tool(
    name="add_inquiry_tag",
    toolset=TOOLSET,
    title="Add a tag to an inquiry",
    description=describe(
        "Add one tag (by name or id) to an inquiry.",
        use_when="labelling an inquiry.",
        ids=_IDS,
        avoid="to replace all tags: use set_inquiry_tags.",
    ),
    scope=Scope.INQUIRIES_WRITE,
    effect=Effect.WRITE,
    operation="inquiries.add_tag",
    input_model=InquiryTag,
    result=InquiryChanged,
    method=Method.POST,
    path=_ONE + "/add-tag",
    body=one_tag_body,
    idempotent=True,
)

remove_inquiry_tag = action_tool(
    name="remove_inquiry_tag",
    toolset=TOOLSET,
    title="Remove a tag from an inquiry",
    description=describe(
        "Remove one tag (by name or id) from an inquiry.",
        use_when="a label no longer applies.",
        ids=_IDS,
    ),
    scope=Scope.INQUIRIES_WRITE,
    effect=Effect.WRITE,
    operation="inquiries.remove_tag",
    input_model=InquiryTag,
    result=InquiryChanged,
    method=Method.POST,
    path=_ONE + "/remove-tag",
    body=one_tag_body,
    idempotent=True,
)

set_inquiry_tags = action_tool(
    name="set_inquiry_tags",
    toolset=TOOLSET,
    title="Replace an inquiry's tags",
    description=describe(
        "Replace all tags of an inquiry with the given set.",
        use_when="you know the full set of tags.",
        ids=_IDS,
        avoid="for one tag: unlisted tags are removed.",
    ),
    scope=Scope.INQUIRIES_WRITE,
    effect=Effect.WRITE,
    operation="inquiries.set_tags",
    input_model=InquiryTags,
    result=InquiryChanged,
    method=Method.POST,
    path=_ONE + "/set-tags",
    body=tag_set_body,
    idempotent=True,
)

simulate_inquiry_actions = action_tool(
    name="simulate_inquiry_actions",
    toolset=TOOLSET,
    title="Simulate inquiry steps (sandbox)",
    description=describe(
        "Sandbox only: drive an inquiry through steps (start, complete, approve...).",
        use_when="testing with sandbox data.",
        ids=_IDS,
        avoid="in production.",
    ),
    scope=Scope.INQUIRIES_WRITE,
    effect=Effect.WRITE,
    operation="inquiries.perform_simulate_actions",
    input_model=SimulateInquiry,
    result=InquiryChanged,
    method=Method.POST,
    path=_ONE + "/perform-simulate-actions",
    body=_simulate_body,
    sandbox_only=True,
)

set_inquiry_simulate_stubs = action_tool(
    name="set_inquiry_simulate_stubs",
    toolset=TOOLSET,
    title="Preset simulated user input (sandbox)",
    description=describe(
        "Sandbox only: preset what a simulated user enters.",
        use_when="tests need specific names or dates.",
        ids=_IDS,
        avoid="in production.",
    ),
    scope=Scope.INQUIRIES_WRITE,
    effect=Effect.WRITE,
    operation="inquiries.set_simulate_stubs",
    input_model=SimulateStubs,
    result=InquiryChanged,
    method=Method.PATCH,
    path=_ONE + "/set-simulate-stubs",
    body=_stubs_body,
    idempotent=True,
    sandbox_only=True,
)

TOOLS: tuple[ToolSpec[Any, Any], ...] = (
    list_inquiries,
    search_inquiries,
    get_inquiry,
    create_inquiry,
    update_inquiry,
    redact_inquiry,
    approve_inquiry,
    decline_inquiry,
    mark_inquiry_for_review,
    expire_inquiry,
    resume_inquiry,
    generate_inquiry_link,
    print_inquiry_pdf,
    add_inquiry_tag,
    remove_inquiry_tag,
    set_inquiry_tags,
    simulate_inquiry_actions,
    set_inquiry_simulate_stubs,
)
