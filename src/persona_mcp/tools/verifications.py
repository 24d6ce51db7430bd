"""Verifications: the checks of an inquiry (government id, selfie, database...) and the database-business
verification an API client runs itself. Covers the 22 `verifications.*` operations.

`get_verification` reads any type (the typed endpoints when a type is named); locking for investigation
blocks redaction; redaction is irreversible (`verifications:delete`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field

from persona_mcp.auth.scopes import Scope
from persona_mcp.persona.envelope import Document, Resource
from persona_mcp.persona.ids import VerificationId
from persona_mcp.pii import OBJECT_ID, PII
from persona_mcp.tools.bodies import attributes_body, pick
from persona_mcp.tools.describe import describe
from persona_mcp.tools.factories import Method, action_tool, object_handler
from persona_mcp.tools.files import PdfResult, pdf_handler
from persona_mcp.tools.input_rules import AtLeastOne
from persona_mcp.tools.inputs import CountryCode, ToolInput
from persona_mcp.tools.results import ObjectView, Rel, Response
from persona_mcp.tools.spec import Activity, Effect, ToolContext, ToolSpec

TOOLSET = "verifications"
#: The hidden database-business endpoints (unconfirmed, rarely a reviewer's task): an opt-in toolset.
BUSINESS_TOOLSET = "business_verifications"
_IDS = "get_inquiry's verification_ids."
_ONE = "/verifications/{verification_id}"
_BUSINESS = "/verification/database-businesses"


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


_TYPED_OPERATIONS = tuple(
    f"verifications.retrieve_{kind.value.replace('-', '_')}" for kind in VerificationType
)
_SHARED = frozenset({"status", "created-at", "submitted-at", "completed-at", "redacted-at", "checks"})


class Verification(ObjectView, Response):
    """A verification: status, checks, and what it captured."""

    status: str | None = Field(None, description="e.g. passed, failed, initiated.")
    inquiry_id: Annotated[str | None, Rel("inquiry")] = Field(None, description="inq_...")
    created_at: str | None = Field(None, description="ISO 8601.")
    completed_at: str | None = Field(None, description="ISO 8601.")
    checks: list[dict[str, Any]] = Field(default_factory=list, description="Checks: name, status, reasons.")
    details: Annotated[dict[str, Any] | None, PII] = Field(
        None, description="Captured data, as Persona gives it."
    )

    @classmethod
    def source_values(cls, resource: Resource, document: Document | None = None) -> dict[str, Any]:
        values = super().source_values(resource, document)
        values["details"] = {k: v for k, v in resource.attributes.items() if k not in _SHARED}
        return values


class VerificationChanged(ObjectView, Response):
    """The verification after the change."""

    status: str | None = Field(None, description="e.g. passed, failed, initiated.")


class GetVerification(ToolInput):
    verification_id: VerificationId = Field(description="The verification.")
    verification_type: VerificationType | None = Field(None, description="Its type, if known (typed read).")


async def _get(ctx: ToolContext, args: GetVerification) -> Verification:
    kind = args.verification_type
    path = f"/verification/{_plural(kind)}/{{verification_id}}" if kind else _ONE
    return await object_handler(Method.GET, path, Verification)(ctx, args)


class VerificationRef(ToolInput):
    verification_id: VerificationId = Field(description="The verification.")


class VerificationLock(ToolInput):
    verification_id: VerificationId = Field(description="The verification.")
    locked: bool = Field(description="true locks (no redaction), false unlocks.")


async def _lock(ctx: ToolContext, args: VerificationLock) -> VerificationChanged:
    action = "investigation-lock" if args.locked else "investigation-unlock"
    return await object_handler(Method.POST, f"{_ONE}/{action}", VerificationChanged)(ctx, args)


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


get_verification = ToolSpec(
    name="get_verification",
    toolset=TOOLSET,
    title="Get a verification",
    description=describe(
        "Read one verification of any type: status, checks, captured data.",
        use_when="you need why a check passed or failed.",
        ids=_IDS,
    ),
    scope=Scope.VERIFICATIONS_READ,
    effect=Effect.READ,
    input_model=GetVerification,
    output_model=Verification,
    operations=("verifications.retrieve", *_TYPED_OPERATIONS),
    handler=_get,
)

print_verification_pdf = ToolSpec(
    name="print_verification_pdf",
    toolset=TOOLSET,
    title="Verification PDF",
    description=describe(
        "Get the verification PDF (unmasked personal data) as a resource link.",
        use_when="a reviewer needs the document.",
        ids=_IDS,
    ),
    scope=Scope.VERIFICATIONS_READ,
    effect=Effect.READ,
    input_model=VerificationRef,
    output_model=PdfResult,
    operations=("verifications.print_pdf",),
    handler=pdf_handler(_ONE + "/print", "verification_id", PdfResult),
    unmaskable=True,
)

set_verification_lock = ToolSpec(
    name="set_verification_lock",
    toolset=TOOLSET,
    title="Lock a verification for investigation",
    description=describe(
        "Lock a verification against redaction, or unlock it.",
        use_when="an investigation must keep the evidence.",
        ids=_IDS,
    ),
    scope=Scope.VERIFICATIONS_WRITE,
    effect=Effect.WRITE,
    input_model=VerificationLock,
    output_model=VerificationChanged,
    operations=("verifications.investigation_lock", "verifications.investigation_unlock"),
    handler=_lock,
    idempotent=True,
)

redact_verification = action_tool(
    name="redact_verification",
    toolset=TOOLSET,
    title="Redact a verification (irreversible)",
    description=describe(
        "Erase a verification's captured data for good.",
        use_when="a confirmed erasure request asks for it.",
        ids=_IDS,
        avoid="while locked: set_verification_lock first.",
    ),
    scope=Scope.VERIFICATIONS_DELETE,
    effect=Effect.DESTRUCTIVE,
    activity=Activity.DELETE,
    operation="verifications.redact",
    input_model=VerificationRef,
    result=VerificationChanged,
    method=Method.DELETE,
    path=_ONE,
    idempotent=True,
    conflict_hint="a verification locked for investigation cannot be redacted; unlock it first",
)

create_business_verification = action_tool(
    name="create_business_verification",
    toolset=BUSINESS_TOOLSET,
    title="Create a database-business verification",
    description=describe(
        "Start a database-business check of a company (initiated until submitted).",
        use_when="a business must be verified against registries.",
        ids="verification templates: Persona dashboard.",
    ),
    scope=Scope.VERIFICATIONS_WRITE,
    effect=Effect.WRITE,
    activity=Activity.CREATE,
    operation="verifications.create_database_business",
    input_model=CreateBusinessVerification,
    result=VerificationChanged,
    method=Method.POST,
    path=_BUSINESS,
    body=_business_body,
)

update_business_verification = action_tool(
    name="update_business_verification",
    toolset=BUSINESS_TOOLSET,
    title="Update a database-business verification",
    description=describe(
        "Correct a database-business verification's inputs before submitting.",
        use_when="an input was wrong.",
        ids="create_business_verification.",
    ),
    scope=Scope.VERIFICATIONS_WRITE,
    effect=Effect.WRITE,
    operation="verifications.update_database_business",
    input_model=UpdateBusinessVerification,
    result=VerificationChanged,
    method=Method.PATCH,
    path=_BUSINESS + "/{verification_id}",
    body=_business_body,
    idempotent=True,
    conflict_hint="only an initiated (not yet submitted) verification can change",
)

submit_business_verification = action_tool(
    name="submit_business_verification",
    toolset=BUSINESS_TOOLSET,
    title="Submit a database-business verification",
    description=describe(
        "Run a database-business verification's check.",
        use_when="its inputs are complete.",
        ids="create_business_verification.",
    ),
    scope=Scope.VERIFICATIONS_WRITE,
    effect=Effect.WRITE,
    operation="verifications.submit_database_business",
    input_model=VerificationRef,
    result=VerificationChanged,
    method=Method.POST,
    path=_BUSINESS + "/{verification_id}/submit",
    conflict_hint="it was submitted already; read the result with get_verification",
)

TOOLS: tuple[ToolSpec[Any, Any], ...] = (
    get_verification,
    print_verification_pdf,
    set_verification_lock,
    redact_verification,
    create_business_verification,
    update_business_verification,
    submit_business_verification,
)
