"""Reports: watchlist, PEP, adverse-media and the other screenings and look-ups Persona runs on a query.

Covers the 13 `reports.*` operations. A report runs in the background: `create_report` and
`rerun_report` return it `pending`; `wait_for_report` (or `get_report`) sees it `ready`. Dismissing
matches is a screening decision (`reports:decide`); redaction is irreversible (`reports:delete`).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field

from persona_mcp.persona.ids import AccountId, ObjectKind, ReportId, ReportTemplateId
from persona_mcp.pii import FIXED_PATTERN, PII
from persona_mcp.tools.bodies import pick
from persona_mcp.tools.factories import path_for
from persona_mcp.tools.family import Family
from persona_mcp.tools.input_rules import OnlyFor
from persona_mcp.tools.inputs import CountryCode, Email, PageInput, Phone, ReferenceId, ToolInput
from persona_mcp.tools.results import Instant, ObjectView, Rel, Response, WithRest, from_upstream
from persona_mcp.tools.spec import Effect, ToolContext, ToolSpec


class ReportType(StrEnum):
    """The report types Persona's API creates (the spec's request variants)."""

    WATCHLIST = "watchlist"
    PEP = "politically-exposed-person"
    ADVERSE_MEDIA = "adverse-media"
    BUSINESS_WATCHLIST = "business-watchlist"
    BUSINESS_ADVERSE_MEDIA = "business-adverse-media"
    CRYPTO_ADDRESS_WATCHLIST = "crypto-address-watchlist"
    ADDRESS_LOOKUP = "address-lookup"
    BUSINESS_LOOKUP = "business-lookup"
    EMAIL_ADDRESS = "email-address"
    PHONE_NUMBER = "phone-number"
    PROFILE = "profile"
    PROFILE_NON_AUTHORITATIVE = "profile-non-authoritative"
    SOCIAL_MEDIA = "social-media"
    SYNTHETIC = "synthetic"


#: Attributes every report has; the rest of a report's attributes are its query and findings.
_SHARED = frozenset(
    {
        "status",
        "created-at",
        "completed-at",
        "redacted-at",
        "has-match",
        "is-continuous",
        "is-recurring",
        "tags",
    }
)


class ReportChanged(ObjectView, Response):
    """The report after the change (get_report shows the rest)."""

    status: str | None = Field(None, description="pending, ready or errored.")
    has_match: bool | None = Field(None, description="Whether it matched.")


class Report(ObjectView):
    """A report as listed."""

    status: str | None = Field(None, description="pending, ready or errored.")
    has_match: bool | None = Field(None, description="Whether it matched.")
    account_id: Annotated[str | None, Rel("account")] = Field(None, description="act_...")
    created_at: Instant = None


class ReportTagged(ReportChanged):
    """The report's tags after the change."""

    tags: list[str] = Field(default_factory=list, description="Tag names.")


class ReportResult(WithRest, Report, Response):
    """One report with its query and findings."""

    rest, named = "findings", _SHARED

    tags: list[str] = Field(default_factory=list, description="Tag names.")
    is_recurring: bool | None = Field(None, description="Monitoring on.")
    completed_at: Instant = None
    inquiry_id: Annotated[str | None, Rel("inquiry")] = Field(None, description="inq_...")
    redacted_at: str | None = Field(None, description="Set once redacted.")
    findings: Annotated[dict[str, Any] | None, PII] = Field(
        None, description="Query and results, as Persona gives them."
    )


class HistoryEntry(ObjectView):
    """A run or a reviewer action."""

    run_type: str | None = Field(None, description="Runs: manual or scheduled.")
    matches: int | None = Field(None, description="Runs: matches found.")
    completed_at: str | None = Field(None, description="Runs: ISO 8601.")
    created_at: str | None = Field(None, description="Actions: ISO 8601.")
    creator_name: Annotated[str | None, PII] = Field(None, description="Actions: who.")


class HistoryPage(Response):
    items: list[HistoryEntry] = Field(description="Runs and actions, newest first.")


class ListReports(PageInput):
    query_filters = {"account_id": "filter[account-id]", "reference_id": "filter[reference-id]"}

    account_id: AccountId | None = Field(None, description="Only this account.")
    reference_id: ReferenceId | None = Field(None, description="Only this account reference id.")


class ReportHistory(ToolInput):
    report_id: ReportId = Field(description="The report.")
    page_size: int = Field(25, ge=1, le=100, description="Newest entries to return.")


_Text = Annotated[str | None, PII]


class CreateReport(ToolInput):
    """The report type and its query; which fields a type needs is Persona's rule (its errors name them)."""

    report_type: ReportType = Field(description="Which report.")
    term: _Text = Field(None, max_length=255, description="Name or business to screen or look up.")
    name_first: _Text = Field(None, max_length=255, description="First name.")
    name_middle: _Text = Field(None, max_length=255, description="Middle name.")
    name_last: _Text = Field(None, max_length=255, description="Last name.")
    birthdate: Annotated[date | None, PII] = Field(None, description="Date of birth.")
    country_code: CountryCode | None = Field(None, description="ISO 3166-1 alpha-2.")
    address_street_1: _Text = Field(None, max_length=255, description="Street.")
    address_city: _Text = Field(None, max_length=255, description="City.")
    address_subdivision: _Text = Field(None, max_length=255, description="State.")
    address_postal_code: _Text = Field(None, max_length=32, description="Postal code.")
    email_address: Annotated[Email | None, PII] = Field(None, description="E-mail address.")
    phone_number: Annotated[Phone | None, PII] = Field(None, description="Phone number.")
    crypto_address: _Text = Field(None, max_length=128, description="crypto-address-watchlist only.")
    account_id: AccountId | None = Field(None, description="Account it belongs to.")
    report_template_id: ReportTemplateId | None = Field(None, description="Template (else the default).")

    rules = (OnlyFor("crypto_address", "report_type", ("crypto-address-watchlist",), required=True),)


_QUERY_FIELDS = (
    "term",
    "name_first",
    "name_middle",
    "name_last",
    "birthdate",
    "address_street_1",
    "address_city",
    "address_subdivision",
    "address_postal_code",
    "email_address",
    "phone_number",
    "crypto_address",
)
#: Types whose query names the country `address-country-code` (the others say `country-code`).
_ADDRESS_COUNTRY = {"watchlist", "business-watchlist", "address-lookup", "business-lookup"}


def _create_body(args: CreateReport) -> dict[str, Any]:
    query = pick(args, _QUERY_FIELDS)
    if args.report_type is ReportType.BUSINESS_LOOKUP and "term" in query:
        query["business-name"] = query.pop("term")  # a business look-up searches a business name
    if args.country_code is not None:
        key = "address-country-code" if args.report_type.value in _ADDRESS_COUNTRY else "country-code"
        query[key] = args.country_code
    attributes: dict[str, Any] = {"query": query} | pick(args, ("account_id", "report_template_id"))
    return {"data": {"type": f"report/{args.report_type.value}", "attributes": attributes}}


class DismissMatches(ToolInput):
    report_id: ReportId = Field(description="The report.")
    reason: Annotated[str, PII] = Field(
        min_length=1, max_length=2000, description="Why they are not the person."
    )
    dismiss_type: str | None = Field(
        None, pattern="^(entity|media)$", description="Adverse media: entity or media."
    )
    entity_id: Annotated[str | None, FIXED_PATTERN] = Field(
        None, pattern=r"^[A-Za-z0-9_-]{1,128}$", description="Adverse media: entity or media id."
    )


def _dismiss_body(args: DismissMatches) -> dict[str, Any]:
    return {"data": {"attributes": pick(args, ("reason", "dismiss_type", "entity_id"))}}


class ReportMonitoring(ToolInput):
    report_id: ReportId = Field(description="The report.")
    paused: bool = Field(description="true pauses, false resumes.")


async def _history(ctx: ToolContext, args: ReportHistory) -> HistoryPage:
    """History entries are bare objects (not JSON:API resources), so they are read here, not flattened."""
    response = await ctx.persona.get(
        path_for(REPORTS.path + "/history", args), params={"page[size]": str(args.page_size)}
    )
    ctx.touch(args.report_id)
    items = []
    for entry in response.document.many():
        extra = {k.replace("-", "_"): v for k, v in (entry.model_extra or {}).items()}
        known = {k: v for k, v in extra.items() if k in HistoryEntry.model_fields}
        items.append({"id": entry.id, "type": entry.type, **known})
    values = {"items": items, "request_id": response.request_id}
    return from_upstream(HistoryPage, values, status=response.status, request_id=response.request_id)


REPORTS = Family(toolset="reports", kind=ObjectKind.REPORT, changed=ReportChanged)

list_reports = REPORTS.list(
    """List reports, newest first, by account.
    Use this when you need a user's screenings.""",
    input_model=ListReports,
    view=Report,
)

get_report = REPORTS.get(
    """Read one report with its query and findings.
    Use this when reviewing a match.""",
    result=ReportResult,
)

create_report = REPORTS.create(
    """Start a screening or look-up (watchlist, PEP, adverse media...); it finishes later.
    Use this when a person or business must be screened; then wait_for it.
    IDs: list_reports.""",
    input_model=CreateReport,
    body=_create_body,
    title="Run a report",
)

rerun_report = REPORTS.write(
    "rerun_report",
    "Re-run a report",
    "Run a report again on its query; it is pending until done.\nUse this when results may have changed.",
    at="POST /run",
    op="rerun",
    conflict_hint="a pending or redacted report cannot be re-run; check it with get_report",
)

list_report_history = REPORTS.read(
    "list_report_history",
    "Report history",
    "List a report's runs and reviewer actions, newest first.\nUse this when auditing a screening.",
    op="list_history",
    input_model=ReportHistory,
    output_model=HistoryPage,
    handler=_history,
)

print_report_pdf = REPORTS.print_pdf()

dismiss_report_matches = REPORTS.decide(
    "dismiss_report_matches",
    "Dismiss a report's matches",
    """Dismiss matches as not this person (a screening decision).
    Use this when a review found the matches false.""",
    effect=Effect.WRITE,
    input_model=DismissMatches,
    at="POST /dismiss",
    op="dismiss_matches",
    body=_dismiss_body,
    idempotent=True,
    conflict_hint="only a ready, unredacted report's matches can be dismissed; check it with get_report",
)

set_report_monitoring = REPORTS.switch(
    "set_report_monitoring",
    "Pause or resume report monitoring",
    "Pause or resume a report's continuous monitoring.\nUse this when monitoring must stop or restart.",
    input_model=ReportMonitoring,
    by="paused",
    routes={True: ("/pause", "pause_monitoring"), False: ("/resume", "resume_monitoring")},
)

redact_report = REPORTS.redact(
    """Erase a report's query and findings for good.
    Use this when a confirmed erasure request asks for it."""
)

tag_report = REPORTS.tag_tool(result=ReportTagged)

TOOLS: tuple[ToolSpec[Any, Any], ...] = REPORTS.declared()
