"""Cases: the manual-review queue (13 `cases.*` operations).

Setting a case's status is a review decision (`cases:decide`); redaction is irreversible (`cases:delete`).
A case holds accounts, inquiries, reports, verifications and transactions, attached by id.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

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
from persona_mcp.tools.family import Family
from persona_mcp.tools.input_rules import AtLeastOne
from persona_mcp.tools.inputs import CustomFields, Email, PageInput, ToolInput
from persona_mcp.tools.results import Attr, Instant, ObjectView, Rel, Response, plain_fields
from persona_mcp.tools.search import SearchInput
from persona_mcp.tools.spec import Effect, ToolSpec

#: Objects a case holds: accounts, inquiries, reports, verifications, transactions.
CASE_OBJECT_PATTERN = r"^(?:act|inq|rep|ver|txn)_[A-Za-z0-9]{1,64}$"
CaseObjectId = Annotated[str, Field(pattern=CASE_OBJECT_PATTERN), OBJECT_ID]


class Case(ObjectView):
    """A case as listed."""

    name: str | None = Field(None, description="Case name, e.g. KYC-6.")
    status: str | None = Field(None, description="Template-defined status.")
    assignee_id: Annotated[str | None, PII] = Field(None, description="Assignee e-mail.")
    tags: list[str] = Field(default_factory=list, description="Tag names.")
    created_at: Instant = None


class CaseResult(Case, Response):
    """One case with what it holds."""

    sla_expires_at: Instant = None
    resolution: str | None = Field(None, description="How it was resolved.")
    resolved_at: Instant = None
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


class ListCases(PageInput):
    query_filters = {
        "status": "filter[status]",
        "case_template_id": "filter[case-template-id]",
        "account_id": "filter[account-id]",
        "inquiry_id": "filter[inquiry-id]",
    }

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


def _sla_meta(args: CreateCase | UpdateCase) -> dict[str, Any]:
    return pick(args, ("sla_expires_in_seconds",))


def _create_body(args: CreateCase) -> dict[str, Any]:
    attributes = pick(args, ("case_template_id", "case_queue_id", "creator_email_address", "fields"))
    return attributes_body(attributes, _sla_meta(args) | pick(args, ("object_ids",)))


def _update_body(args: UpdateCase) -> dict[str, Any]:
    return attributes_body(pick(args, ("case_queue_id", "fields")), _sla_meta(args))


def _objects_body(args: CaseObjects) -> dict[str, Any]:
    return {"meta": {"object-ids": list(args.object_ids)}}


CASES = Family(toolset="cases", kind=ObjectKind.CASE, changed=CaseChanged)

list_cases = CASES.list(
    """List cases, newest first, by status, template or held object.
    Use this when working a review queue.""",
    input_model=ListCases,
    view=Case,
)

search_cases = CASES.search(input_model=SearchCases, view=Case, lags=False)

get_case = CASES.get(
    """Read one case with its fields and the objects it holds.
    Use this when reviewing a case.""",
    result=CaseResult,
)

create_case = CASES.create(
    """Open a case from a case template, holding the given objects.
    Use this when something needs a human review.
    IDs: templates: Persona dashboard.""",
    input_model=CreateCase,
    body=_create_body,
)

update_case = CASES.update(
    """Change a case's fields, queue or SLA.
    Use this when details must change.
    Do not use it to decide: set_case_status.""",
    input_model=UpdateCase,
    body=_update_body,
)

assign_case = CASES.write(
    "assign_case",
    "Assign a case",
    "Assign a case to a Persona user by e-mail.\nUse this when a reviewer takes the case.",
    input_model=AssignCase,
    at="POST /assign",
    body=lambda a: {"meta": {"user-email-address": a.user_email_address}},
    idempotent=True,
)

set_case_status = CASES.decide(
    "set_case_status",
    "Set a case's status",
    """Set a case's status (a review decision, e.g. Approved).
    Use this when a review reached a decision.""",
    effect=Effect.WRITE,
    input_model=CaseStatus,
    at="POST /set-status",
    body=lambda a: {"meta": {"status": a.status}},
    idempotent=True,
    conflict_hint="a redacted case's status cannot change",
)

attach_case_objects = CASES.switch(
    "attach_case_objects",
    "Attach or detach case objects",
    """Attach accounts, inquiries, reports, verifications or transactions to a case, or detach them.
    Use this when evidence belongs to the case (or not).""",
    input_model=CaseObjects,
    by="detach",
    routes={False: ("/add-objects", "add_objects"), True: ("/remove-objects", "remove_objects")},
    body=_objects_body,
)

redact_case = CASES.redact(
    """Erase a case's fields and attachments for good.
    Use this when a confirmed erasure request asks for it."""
)

tag_case = CASES.tag_tool(result=CaseTagged)

TOOLS: tuple[ToolSpec[Any, Any], ...] = CASES.declared()
