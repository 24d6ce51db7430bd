"""Cases: the manual-review queue (13 `cases.*` operations).

Setting a case's status is a review decision (`cases:decide`); redaction is irreversible (`cases:delete`).
A case holds accounts, inquiries, reports, verifications and transactions, attached by id.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from persona_mcp.auth.scopes import Scope
from persona_mcp.persona.ids import (
    AccountId,
    CaseId,
    CaseQueueId,
    CaseTemplateId,
    InquiryId,
    ObjectKind,
)
from persona_mcp.pii import OBJECT_ID, PII
from persona_mcp.tools.bodies import attributes_body, pick
from persona_mcp.tools.describe import describe
from persona_mcp.tools.factories import (
    Method,
    action_tool,
    family_actions,
    get_tool,
    list_tool,
    object_handler,
)
from persona_mcp.tools.input_rules import AtLeastOne
from persona_mcp.tools.inputs import CustomFields, Email, PageInput, ToolInput
from persona_mcp.tools.results import Attr, ObjectView, Page, Rel, Response, plain_fields
from persona_mcp.tools.search import SearchInput, search_tool
from persona_mcp.tools.spec import Activity, Effect, ToolContext, ToolSpec
from persona_mcp.tools.tags import TagChange, tag_change_tool

TOOLSET = "cases"
_IDS = "list_cases."
_ONE = "/cases/{case_id}"
#: Objects a case holds: accounts, inquiries, reports, verifications, transactions.
CASE_OBJECT_PATTERN = r"^(?:act|inq|rep|ver|txn)_[A-Za-z0-9]{1,64}$"
CaseObjectId = Annotated[str, Field(pattern=CASE_OBJECT_PATTERN), OBJECT_ID]


class Case(ObjectView):
    """A case as listed."""

    name: str | None = Field(None, description="Case name, e.g. KYC-6.")
    status: str | None = Field(None, description="Template-defined status.")
    assignee_id: Annotated[str | None, PII] = Field(None, description="Assignee e-mail.")
    tags: list[str] = Field(default_factory=list, description="Tag names.")
    created_at: str | None = Field(None, description="ISO 8601.")


class CaseResult(Case, Response):
    """One case with what it holds."""

    sla_expires_at: str | None = Field(None, description="ISO 8601.")
    resolution: str | None = Field(None, description="How it was resolved.")
    resolved_at: str | None = Field(None, description="ISO 8601.")
    redacted_at: str | None = Field(None, description="Set once redacted.")
    fields: Annotated[dict[str, Any] | None, PII, Attr("fields", plain_fields)] = Field(
        None, description="Template fields, plain values."
    )
    case_template_id: Annotated[str | None, Rel("case-template")] = Field(None, description="ctmpl_...")
    account_ids: Annotated[list[str], Rel("accounts")] = Field(default_factory=list, description="act_...")
    inquiry_ids: Annotated[list[str], Rel("inquiries")] = Field(default_factory=list, description="inq_...")
    report_ids: Annotated[list[str], Rel("reports")] = Field(default_factory=list, description="rep_...")
    verification_ids: Annotated[list[str], Rel("verifications")] = Field(
        default_factory=list, description="ver_..."
    )


class CaseChanged(ObjectView, Response):
    """The case after the change (get_case shows the rest)."""

    status: str | None = Field(None, description="Template-defined status.")


class CaseTagged(CaseChanged):
    """The case's tags after the change."""

    tags: list[str] = Field(default_factory=list, description="Tag names.")


class CasePage(Page):
    items: list[Case] = Field(description="Cases on this page, newest first.")


class CaseRef(ToolInput):
    case_id: CaseId = Field(description="The case.")


class ListCases(PageInput):
    status: str | None = Field(None, max_length=64, description="Only this status.")
    case_template_id: CaseTemplateId | None = Field(None, description="Only this template.")
    account_id: AccountId | None = Field(None, description="Only cases holding it.")
    inquiry_id: InquiryId | None = Field(None, description="Only cases holding it.")


class SearchCases(SearchInput):
    """Search cases by attribute predicates."""


_SLA = Field(None, ge=1, le=90 * 24 * 3600, description="SLA from now (s).")


class CreateCase(ToolInput):
    case_template_id: CaseTemplateId = Field(description="Template of the case.")
    case_queue_id: CaseQueueId | None = Field(None, description="Queue to put it in.")
    creator_email_address: Annotated[Email | None, PII] = Field(None, description="Creating user's e-mail.")
    fields: Annotated[CustomFields | None, PII] = Field(None, description="Template fields: key -> value.")
    object_ids: list[CaseObjectId] | None = Field(None, max_length=50, description="Objects to hold.")
    sla_expires_in_seconds: int | None = _SLA


class UpdateCase(ToolInput):
    case_id: CaseId = Field(description="The case.")
    case_queue_id: CaseQueueId | None = Field(None, description="Move to this queue.")
    fields: Annotated[CustomFields | None, PII] = Field(None, description="Fields to change: key -> value.")
    sla_expires_in_seconds: int | None = _SLA

    rules = (AtLeastOne(("case_queue_id", "fields", "sla_expires_in_seconds")),)


class CaseObjects(ToolInput):
    case_id: CaseId = Field(description="The case.")
    object_ids: list[CaseObjectId] = Field(
        min_length=1, max_length=50, description="act_, inq_, rep_, ver_, txn_ ids."
    )
    detach: bool = Field(False, description="true detaches them instead.")


class AssignCase(ToolInput):
    case_id: CaseId = Field(description="The case.")
    user_email_address: Annotated[Email, PII] = Field(description="The Persona user's e-mail.")


class CaseStatus(ToolInput):
    case_id: CaseId = Field(description="The case.")
    status: str = Field(min_length=1, max_length=64, description="A status of its template, e.g. Approved.")


class CaseTagChange(TagChange):
    case_id: CaseId = Field(description="The case.")


def _filters(args: ListCases) -> dict[str, str]:
    names = ("status", "case_template_id", "account_id", "inquiry_id")
    return {f"filter[{key}]": str(value) for key, value in pick(args, names).items()}


def _sla_meta(args: CreateCase | UpdateCase) -> dict[str, Any]:
    return pick(args, ("sla_expires_in_seconds",))


def _create_body(args: CreateCase) -> dict[str, Any]:
    attributes = pick(args, ("case_template_id", "case_queue_id", "creator_email_address", "fields"))
    return attributes_body(attributes, _sla_meta(args) | pick(args, ("object_ids",)))


def _update_body(args: UpdateCase) -> dict[str, Any]:
    return attributes_body(pick(args, ("case_queue_id", "fields")), _sla_meta(args))


def _objects_body(args: CaseObjects) -> dict[str, Any]:
    return {"meta": {"object-ids": list(args.object_ids)}}


_tool = family_actions(TOOLSET, _IDS)


list_cases = list_tool(
    name="list_cases",
    toolset=TOOLSET,
    title="List cases",
    description=describe(
        "List cases, newest first, by status, template or held object.", use_when="working a review queue."
    ),
    scope=Scope.CASES_READ,
    operation="cases.list",
    input_model=ListCases,
    page=CasePage,
    view=Case,
    path="/cases",
    finds=ObjectKind.CASE,
    filters=_filters,
)

search_cases = search_tool(
    name="search_cases",
    toolset=TOOLSET,
    title="Search cases",
    description=describe(
        "Search cases by conditions on attributes (snake_case).",
        use_when="list_cases' filters are not enough.",
    ),
    scope=Scope.CASES_READ,
    input_model=SearchCases,
    operation="cases.search",
    page=CasePage,
    view=Case,
    path="/cases/search",
    finds=ObjectKind.CASE,
)

get_case = get_tool(
    name="get_case",
    toolset=TOOLSET,
    title="Get a case",
    description=describe(
        "Read one case with its fields and the objects it holds.", use_when="reviewing a case.", ids=_IDS
    ),
    scope=Scope.CASES_READ,
    operation="cases.retrieve",
    input_model=CaseRef,
    result=CaseResult,
    path=_ONE,
)

create_case = action_tool(
    name="create_case",
    toolset=TOOLSET,
    title="Create a case",
    description=describe(
        "Open a case from a case template, holding the given objects.",
        use_when="something needs a human review.",
        ids="templates: Persona dashboard.",
    ),
    scope=Scope.CASES_WRITE,
    effect=Effect.WRITE,
    activity=Activity.CREATE,
    operation="cases.create",
    input_model=CreateCase,
    result=CaseChanged,
    method=Method.POST,
    path="/cases",
    body=_create_body,
)

update_case = _tool(
    "update_case",
    "Update a case",
    "Change a case's fields, queue or SLA.",
    "details must change.",
    avoid="to decide: set_case_status.",
    scope=Scope.CASES_WRITE,
    effect=Effect.WRITE,
    operation="cases.update",
    input_model=UpdateCase,
    result=CaseChanged,
    method=Method.PATCH,
    path=_ONE,
    body=_update_body,
    idempotent=True,
)

redact_case = _tool(
    "redact_case",
    "Redact a case (irreversible)",
    "Erase a case's fields and attachments for good.",
    "a confirmed erasure request asks for it.",
    scope=Scope.CASES_DELETE,
    effect=Effect.DESTRUCTIVE,
    activity=Activity.DELETE,
    operation="cases.redact",
    input_model=CaseRef,
    result=CaseChanged,
    method=Method.DELETE,
    path=_ONE,
    idempotent=True,
)


async def _attach(ctx: ToolContext, args: CaseObjects) -> CaseChanged:
    action = "remove-objects" if args.detach else "add-objects"
    return await object_handler(Method.POST, f"{_ONE}/{action}", CaseChanged, _objects_body)(ctx, args)


attach_case_objects = ToolSpec(
    name="attach_case_objects",
    toolset=TOOLSET,
    title="Attach or detach case objects",
    description=describe(
        "Attach accounts, inquiries, reports, verifications or transactions to a case, or detach them.",
        use_when="evidence belongs to the case (or not).",
        ids=_IDS,
    ),
    scope=Scope.CASES_WRITE,
    effect=Effect.WRITE,
    input_model=CaseObjects,
    output_model=CaseChanged,
    operations=("cases.add_objects", "cases.remove_objects"),
    handler=_attach,
    idempotent=True,
)

assign_case = _tool(
    "assign_case",
    "Assign a case",
    "Assign a case to a Persona user by e-mail.",
    "a reviewer takes the case.",
    scope=Scope.CASES_WRITE,
    effect=Effect.WRITE,
    operation="cases.assign",
    input_model=AssignCase,
    result=CaseChanged,
    method=Method.POST,
    path=_ONE + "/assign",
    body=lambda a: {"meta": {"user-email-address": a.user_email_address}},
    idempotent=True,
)

set_case_status = _tool(
    "set_case_status",
    "Set a case's status",
    "Set a case's status (a review decision, e.g. Approved).",
    "a review reached a decision.",
    scope=Scope.CASES_DECIDE,
    effect=Effect.WRITE,
    operation="cases.set_status",
    input_model=CaseStatus,
    result=CaseChanged,
    method=Method.POST,
    path=_ONE + "/set-status",
    body=lambda a: {"meta": {"status": a.status}},
    idempotent=True,
    conflict_hint="a redacted case's status cannot change",
)

tag_case = tag_change_tool(
    family="cases",
    noun="case",
    toolset=TOOLSET,
    scope=Scope.CASES_WRITE,
    ids=_IDS,
    template=_ONE,
    input_model=CaseTagChange,
    result=CaseTagged,
)

TOOLS: tuple[ToolSpec[Any, Any], ...] = (
    list_cases,
    search_cases,
    get_case,
    create_case,
    update_case,
    assign_case,
    set_case_status,
    attach_case_objects,
    redact_case,
    tag_case,
)
