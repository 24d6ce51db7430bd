"""Documents: government ids and generic documents, with the signed links of their images.

Covers the 9 `documents.*` operations. The three retrieve endpoints are one read tool (the generic
`/documents/{id}` unless a `kind` is named); create, update and submit take a `kind` for the generic
and the government-id variants. Persona withdrew the six write endpoints from its public spec on
2026-04-08 (still in its docs), so they are here with that caveat. Everything a document holds is
personal data: names, numbers, dates, and the image links (masked without `pii:read`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field

from persona_mcp.auth.scopes import Scope
from persona_mcp.persona.ids import AccountId, DocumentId, InquiryId
from persona_mcp.pii import FIXED_PATTERN, PII
from persona_mcp.tools.bodies import attributes_body
from persona_mcp.tools.describe import describe
from persona_mcp.tools.factories import Method, one_result, send
from persona_mcp.tools.file_links import FileLink, file_link, file_links
from persona_mcp.tools.input_rules import AtLeastOne
from persona_mcp.tools.inputs import CountryCode, CustomFields, ToolInput
from persona_mcp.tools.results import Attr, ObjectView, Rel, Response, plain_fields
from persona_mcp.tools.spec import Activity, Effect, ToolContext, ToolSpec
from persona_mcp.tools.uploads import Upload

TOOLSET = "documents"


class DocumentKind(StrEnum):
    GENERIC = "generic"
    GOVERNMENT_ID = "government-id"


#: kind -> (path segment, catalogue operation suffix)
_KINDS = {
    DocumentKind.GENERIC: ("generics", "generic"),
    DocumentKind.GOVERNMENT_ID: ("government-ids", "government_id"),
}


def _ops(verb: str) -> tuple[str, ...]:
    return tuple(f"documents.{verb}_{suffix}" for _, suffix in _KINDS.values())


# -- models ------------------------------------------------------------------------------------------------


class DocumentResult(ObjectView, Response):
    """A document (`document/generic`, `document/government-id`, ...): every field is personal data."""

    status: str | None = Field(None, description="initiated, submitted, processed or errored.")
    kind: str | None = Field(None, description="Generic documents: the kind.")
    id_class: str | None = Field(None, description="Government ids: dl, pp, id, ...")
    created_at: str | None = Field(None, description="ISO 8601.")
    processed_at: str | None = Field(None, description="ISO 8601.")
    inquiry_id: Annotated[str | None, Rel("inquiry")] = Field(None, description="inq_...")
    name_first: Annotated[str | None, PII] = Field(None, description="First name.")
    name_last: Annotated[str | None, PII] = Field(None, description="Last name.")
    birthdate: Annotated[str | None, PII] = Field(None, description="Date of birth.")
    identification_number: Annotated[str | None, PII] = Field(None, description="Id number.")
    expiration_date: Annotated[str | None, PII] = Field(None, description="Expiry date.")
    issuing_subdivision: Annotated[str | None, PII] = Field(None, description="Issuing state.")
    address_city: Annotated[str | None, PII] = Field(None, description="City.")
    front_photo: Annotated[FileLink | None, Attr("front-photo", file_link)] = Field(
        None, description="Front image."
    )
    back_photo: Annotated[FileLink | None, Attr("back-photo", file_link)] = Field(
        None, description="Back image."
    )
    selfie_photo: Annotated[FileLink | None, Attr("selfie-photo", file_link)] = Field(
        None, description="Selfie image."
    )
    files: Annotated[list[FileLink], Attr("files", file_links)] = Field(
        default_factory=list, description="Uploaded files."
    )
    fields: Annotated[dict[str, Any] | None, PII, Attr("fields", plain_fields)] = Field(
        None, description="Extracted fields."
    )


IdClass = Annotated[str, Field(pattern=r"^[a-z]{1,12}$"), FIXED_PATTERN]


class DocumentRef(ToolInput):
    document_id: DocumentId = Field(description="The document.")
    kind: DocumentKind | None = Field(None, description="Ask the typed endpoint (default: any kind).")


class KindRef(ToolInput):
    document_id: DocumentId = Field(description="The document.")
    kind: DocumentKind = Field(description="Its kind.")


class CreateGenericDocument(ToolInput):
    document_kind: Annotated[str, Field(min_length=1, max_length=100)] = Field(
        description="The document kind, e.g. bank_statement."
    )
    inquiry_id: InquiryId | None = Field(None, description="Inquiry it belongs to.")
    account_id: AccountId | None = Field(None, description="Account it belongs to.")
    files: list[Upload] | None = Field(None, max_length=10, description="Files.")


class CreateGovernmentId(ToolInput):
    inquiry_id: InquiryId = Field(description="Inquiry it belongs to.")
    country_code: CountryCode = Field(description="Issuing country.")
    account_id: AccountId | None = Field(None, description="Account it belongs to.")
    id_class: IdClass | None = Field(None, description="Id class, e.g. dl, pp.")
    front_photo: Upload | None = Field(None, description="Front image.")
    back_photo: Upload | None = Field(None, description="Back image.")


_GENERIC_CHANGES = ("document_kind", "files", "fields")
_ID_CHANGES = ("id_class", "front_photo", "back_photo")


class UpdateGenericDocument(ToolInput):
    document_id: DocumentId = Field(description="The document (still initiated).")
    document_kind: Annotated[str | None, Field(min_length=1, max_length=100)] = Field(
        None, description="New kind."
    )
    files: list[Upload] | None = Field(None, max_length=10, description="Replace the files.")
    fields: Annotated[CustomFields | None, PII] = Field(None, description="Fields: key -> value.")

    rules = (AtLeastOne(_GENERIC_CHANGES, "give at least one of document_kind, files, fields"),)


class UpdateGovernmentId(ToolInput):
    document_id: DocumentId = Field(description="The document (still initiated).")
    id_class: IdClass | None = Field(None, description="Id class.")
    front_photo: Upload | None = Field(None, description="Front image.")
    back_photo: Upload | None = Field(None, description="Back image.")

    rules = (AtLeastOne(_ID_CHANGES, "give at least one of id_class, front_photo, back_photo"),)


# -- bodies and handlers -------------------------------------------------------------------------------------


Changes = CreateGenericDocument | CreateGovernmentId | UpdateGenericDocument | UpdateGovernmentId
_NAMES = {
    "inquiry_id": "inquiry-id",
    "account_id": "account-id",
    "country_code": "country-code",
    "document_kind": "kind",
    "fields": "fields",
    "id_class": "selected-id-class",
}


def _attributes(args: Changes) -> dict[str, Any]:
    """The attributes given, in Persona's names; files as `{data, filename}`, photos as pages."""
    attributes = {
        key: getattr(args, name) for name, key in _NAMES.items() if getattr(args, name, None) is not None
    }
    files: list[Upload] | None = getattr(args, "files", None)
    if files is not None:
        attributes["files"] = [upload.persona_file() for upload in files]
    for name, key in (("front_photo", "front-photo"), ("back_photo", "back-photo")):
        upload: Upload | None = getattr(args, name, None)
        if upload is not None:
            attributes[key] = {"data": [upload.persona_file()]}
    return attributes


def _writer(method: Method, template: str) -> Any:
    async def handler(ctx: ToolContext, args: Changes) -> DocumentResult:
        path = template.format(document_id=getattr(args, "document_id", ""))
        response = await send(ctx, method, path, attributes_body(_attributes(args)))
        return one_result(ctx, DocumentResult, response)

    return handler


async def _get(ctx: ToolContext, args: DocumentRef) -> DocumentResult:
    if args.kind is None:
        path = f"/documents/{args.document_id}"
    else:
        path = f"/document/{_KINDS[args.kind][0]}/{args.document_id}"
    return one_result(ctx, DocumentResult, await send(ctx, Method.GET, path))


async def _submit(ctx: ToolContext, args: KindRef) -> DocumentResult:
    path = f"/document/{_KINDS[args.kind][0]}/{args.document_id}/submit"
    return one_result(ctx, DocumentResult, await send(ctx, Method.POST, path))


# -- specs ---------------------------------------------------------------------------------------------------

_IDS = "an inquiry's events (list_events), or the create_ tools."
_WITHDRAWN = " Persona withdrew this endpoint from its public spec: it may be refused."

get_document = ToolSpec(
    name="get_document",
    toolset=TOOLSET,
    title="Get a document",
    description=describe(
        "Read a document: status, extracted data and image links.",
        use_when="reviewing the id or file an inquiry collected.",
        ids=_IDS,
    ),
    scope=Scope.DOCUMENTS_READ,
    effect=Effect.READ,
    input_model=DocumentRef,
    output_model=DocumentResult,
    operations=("documents.retrieve", *_ops("retrieve")),
    handler=_get,
)


def _write_tool(
    name: str, title: str, summary: str, use_when: str, model: type[ToolInput], operation: str, method: Method
) -> ToolSpec[Any, Any]:
    """A create or update tool of one document kind: they differ only in these values."""
    creating = method is Method.POST
    path = "/document/" + ("generics" if "generic" in operation else "government-ids")
    return ToolSpec(
        name=name,
        toolset=TOOLSET,
        title=title,
        description=describe(summary + _WITHDRAWN, use_when=use_when, ids=_IDS),
        scope=Scope.DOCUMENTS_WRITE,
        effect=Effect.WRITE,
        activity=Activity.CREATE if creating else None,
        input_model=model,
        output_model=DocumentResult,
        operations=(operation,),
        handler=_writer(method, path if creating else path + "/{document_id}"),
        idempotent=not creating,
        conflict_hint=None if creating else "only an initiated document changes; see get_document",
    )


create_generic_document = _write_tool(
    "create_generic_document",
    "Create a generic document",
    "Create a generic document (a bank statement, a utility bill) from files.",
    "adding a document to an inquiry or account.",
    CreateGenericDocument,
    "documents.create_generic",
    Method.POST,
)
update_generic_document = _write_tool(
    "update_generic_document",
    "Update a generic document",
    "Change a generic document that is still initiated.",
    "its kind, files or fields must change before submitting.",
    UpdateGenericDocument,
    "documents.update_generic",
    Method.PATCH,
)
create_government_id_document = _write_tool(
    "create_government_id_document",
    "Create a government id document",
    "Create a government id document from its images.",
    "adding an id document to an inquiry.",
    CreateGovernmentId,
    "documents.create_government_id",
    Method.POST,
)
update_government_id_document = _write_tool(
    "update_government_id_document",
    "Update a government id document",
    "Change a government id document that is still initiated.",
    "its images or id class must change before submitting.",
    UpdateGovernmentId,
    "documents.update_government_id",
    Method.PATCH,
)

submit_document = ToolSpec(
    name="submit_document",
    toolset=TOOLSET,
    title="Submit a document",
    description=describe(
        "Submit an initiated document for processing." + _WITHDRAWN,
        use_when="its files are complete.",
        ids=_IDS,
    ),
    scope=Scope.DOCUMENTS_WRITE,
    effect=Effect.WRITE,
    input_model=KindRef,
    output_model=DocumentResult,
    operations=_ops("submit"),
    handler=_submit,
    conflict_hint="a document is submitted once; read its status with get_document",
)

TOOLS: tuple[ToolSpec[Any, Any], ...] = (
    get_document,
    create_generic_document,
    update_generic_document,
    create_government_id_document,
    update_government_id_document,
    submit_document,
)
