"""Verifications: the checks of an inquiry (government id, selfie, database...) and the database-business
verification an API client runs itself. Covers the 22 `verifications.*` operations.

`get_verification` reads any type (the typed endpoints when a type is named); locking for investigation
blocks redaction; redaction is irreversible (`verifications:delete`).
"""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum
from typing import Annotated, Any, TypedDict

from pydantic import Field

from persona_mcp.persona.ids import ObjectKind, VerificationId
from persona_mcp.pii import OBJECT_ID, PII
from persona_mcp.tools.bodies import attributes_body, pick
from persona_mcp.tools.family import Family
from persona_mcp.tools.input_rules import AtLeastOne
from persona_mcp.tools.inputs import CountryCode, ToolInput
from persona_mcp.tools.results import Instant, ObjectView, Rel, Response, WithRest
from persona_mcp.tools.spec import ToolSpec


class VerificationType(StrEnum):
    """Types with a typed retrieve endpoint (`/verification/<plural>/{id}`)."""

    AAMVA = "aamva"
    DATABASE = "database"
    DATABASE_BUSINESS = "database-business"
    DATABASE_ECBSV = "database-ecbsv"
    DATABASE_PHONE_CARRIER = "database-phone-carrier"
    DATABASE_SERPRO = "database-serpro"
    DATABASE_STANDARD = "database-standard"
    DATABASE_TIN = "database-tin"
    DOCUMENT = "document"
    EMAIL_ADDRESS = "email-address"
    GOVERNMENT_ID = "government-id"
    GOVERNMENT_ID_NFC = "government-id-nfc"
    PHONE_NUMBER = "phone-number"
    SELFIE = "selfie"


def _plural(kind: VerificationType) -> str:
    return f"{kind.value}es" if kind.value.endswith("s") else f"{kind.value}s"


_SHARED = frozenset({"status", "created-at", "submitted-at", "completed-at", "redacted-at", "checks"})


class Verification(WithRest, Response):
    """A verification: status, checks, and what it captured."""

    rest, named = "details", _SHARED

    status: str | None = Field(None, description="e.g. passed, failed, initiated.")
    inquiry_id: Annotated[str | None, Rel("inquiry")] = Field(None, description="inq_...")
    created_at: Instant = None
    completed_at: Instant = None
    checks: list[dict[str, Any]] = Field(default_factory=list, description="Checks: name, status, reasons.")
    details: Annotated[dict[str, Any] | None, PII] = Field(
        None, description="Captured data, as Persona gives it."
    )


class VerificationChanged(ObjectView, Response):
    """The verification after the change."""

    status: str | None = Field(None, description="e.g. passed, failed, initiated.")


class GetVerification(ToolInput):
    verification_id: VerificationId = Field(description="The verification.")
    verification_type: VerificationType | None = Field(None, description="Its type, if known (typed read).")


class VerificationLock(ToolInput):
    verification_id: VerificationId = Field(description="The verification.")
    locked: bool = Field(description="true locks (no redaction), false unlocks.")


_Text = Annotated[str | None, PII]


class BusinessFields(ToolInput):
    business_name: _Text = Field(None, min_length=1, max_length=255, description="Business name.")
    registration_number: _Text = Field(None, max_length=64, description="Registration number.")
    address_street_1: _Text = Field(None, max_length=255, description="Street.")
    address_street_2: _Text = Field(None, max_length=255, description="Street 2.")
    address_city: _Text = Field(None, max_length=255, description="City.")
    address_subdivision: _Text = Field(None, max_length=255, description="State.")
    address_postal_code: _Text = Field(None, max_length=32, description="Postal code.")
    address_country_code: CountryCode | None = Field(None, description="ISO 3166-1 alpha-2.")


_NAMES = tuple(BusinessFields.model_fields)


class CreateBusinessVerification(BusinessFields):
    business_name: Annotated[str, PII] = Field(min_length=1, max_length=255, description="Business name.")
    address_country_code: CountryCode = Field(description="ISO 3166-1 alpha-2.")
    verification_template_id: Annotated[str, OBJECT_ID] = Field(
        pattern=r"^vtmpl_[A-Za-z0-9]{1,64}$", description="vtmpl_... (dashboard)."
    )


class UpdateBusinessVerification(BusinessFields):
    verification_id: VerificationId = Field(description="The verification (still initiated).")

    rules = (AtLeastOne(_NAMES),)


def _business_body(args: BusinessFields) -> dict[str, Any]:
    extra = ("verification_template_id",) if isinstance(args, CreateBusinessVerification) else ()
    return attributes_body(pick(args, (*_NAMES, *extra)))


VERIFICATIONS = Family(
    toolset="verifications",
    kind=ObjectKind.VERIFICATION,
    changed=VerificationChanged,
    ids="get_inquiry's verification_ids.",
)
#: The hidden database-business endpoints (unconfirmed, rarely a reviewer's task): an opt-in toolset.
BUSINESS = replace(
    VERIFICATIONS,
    toolset="business_verifications",
    operations="verifications",
    path="/verification/database-businesses/{verification_id}",
    ids="create_business_verification.",
)

get_verification = VERIFICATIONS.get(
    """Read one verification of any type: status, checks, captured data.
    Use this when you need why a check passed or failed.""",
    result=Verification,
    input_model=GetVerification,
    by="verification_type",
    routes={
        None: VERIFICATIONS.path,
        **{kind: f"/verification/{_plural(kind)}/{{verification_id}}" for kind in VerificationType},
    },
    ops=("retrieve", *(f"retrieve_{kind.value.replace('-', '_')}" for kind in VerificationType)),
)

print_verification_pdf = VERIFICATIONS.print_pdf()

set_verification_lock = VERIFICATIONS.switch(
    "set_verification_lock",
    "Lock a verification for investigation",
    """Lock a verification against redaction, or unlock it.
    Use this when an investigation must keep the evidence.""",
    input_model=VerificationLock,
    by="locked",
    routes={
        True: ("/investigation-lock", "investigation_lock"),
        False: ("/investigation-unlock", "investigation_unlock"),
    },
)

redact_verification = VERIFICATIONS.redact(
    """Erase a verification's captured data for good.
    Use this when a confirmed erasure request asks for it.
    Do not use it while locked: set_verification_lock first.""",
    conflict_hint="a verification locked for investigation cannot be redacted; unlock it first",
)


class _Naming(TypedDict):
    name: str
    title: str
    op: str


def _business(verb: str) -> _Naming:
    """A database-business tool's name, title and operation: they differ only in the verb."""
    title = f"{verb.capitalize()} a database-business verification"
    return {"name": f"{verb}_business_verification", "title": title, "op": f"{verb}_database_business"}


create_business_verification = BUSINESS.create(
    """Start a database-business check of a company (initiated until submitted).
    Use this when a business must be verified against registries.
    IDs: verification templates: Persona dashboard.""",
    **_business("create"),
    input_model=CreateBusinessVerification,
    body=_business_body,
)

update_business_verification = BUSINESS.update(
    """Correct a database-business verification's inputs before submitting.
    Use this when an input was wrong.""",
    **_business("update"),
    input_model=UpdateBusinessVerification,
    body=_business_body,
    conflict_hint="only an initiated (not yet submitted) verification can change",
)

submit_business_verification = BUSINESS.write(
    description="""Run a database-business verification's check.
    Use this when its inputs are complete.""",
    **_business("submit"),
    at="POST /submit",
    conflict_hint="it was submitted already; read the result with get_verification",
)

TOOLS: tuple[ToolSpec[Any, Any], ...] = VERIFICATIONS.declared()
