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

from persona_mcp.persona.ids import AccountId, DocumentId, InquiryId, ObjectKind
from persona_mcp.pii import FIXED_PATTERN, PII
from persona_mcp.tools.bodies import attributes_body
from persona_mcp.tools.describe import describe
from persona_mcp.tools.family import Family
from persona_mcp.tools.file_links import FileLink, file_link, file_links
from persona_mcp.tools.input_rules import AtLeastOne
from persona_mcp.tools.inputs import CountryCode, CustomFields, ToolInput
from persona_mcp.tools.results import Attr, Instant, ObjectView, Rel, Response, plain_fields
from persona_mcp.tools.spec import Activity, ToolSpec
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
    return tuple(f"{verb}_{suffix}" for _, suffix in _KINDS.values())


# -- models ------------------------------------------------------------------------------------------------


class DocumentResult(ObjectView, Response):
    """A document (`document/generic`, `document/government-id`, ...): every field is personal data."""

    status: str | None = Field(None, description="initiated, submitted, processed or errored.")
    kind: str | None = Field(None, description="Generic documents: the kind.")
    id_class: str | None = Field(None, description="Government ids: dl, pp, id, ...")
    created_at: Instant = None
    processed_at: Instant = None
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


class KindRef(DocumentRef):
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


def _body(args: Changes) -> dict[str, Any]:
    return attributes_body(_attributes(args))


# -- specs ---------------------------------------------------------------------------------------------------

DOCUMENTS = Family(
    toolset="documents",
    kind=ObjectKind.DOCUMENT,
    changed=DocumentResult,
    ids="an inquiry's events (list_events), or the create_ tools.",
)
_WITHDRAWN = " Persona withdrew this endpoint from its public spec: it may be refused."
#: The typed endpoints of each kind: `/document/generics`, `/document/government-ids`.
_TYPED = {kind: f"/document/{segment}" for kind, (segment, _) in _KINDS.items()}

get_document = DOCUMENTS.get(
    """Read a document: status, extracted data and image links.
    Use this when reviewing the id or file an inquiry collected.""",
    result=DocumentResult,
    input_model=DocumentRef,
    by="kind",
    routes={None: DOCUMENTS.path} | {kind: f"{typed}/{{document_id}}" for kind, typed in _TYPED.items()},
    ops=("retrieve", *_ops("retrieve")),
)


def _change(
    kind: DocumentKind, verb: str, title: str, summary: str, use_when: str, model: type[ToolInput]
) -> Any:
    """A create or update tool of one document kind: they differ only in these values."""
    creating = verb == "create"
    suffix = _KINDS[kind][1]
    return DOCUMENTS.write(
        f"{verb}_{suffix}_document",
        title,
        describe(summary + _WITHDRAWN, use_when=use_when, ids=DOCUMENTS.ids),
        op=f"{verb}_{suffix}",
        at="POST" if creating else "PATCH",
        path=_TYPED[kind] + ("" if creating else "/{document_id}"),
        activity=Activity.CREATE if creating else None,
        input_model=model,
        body=_body,
        idempotent=not creating,
        conflict_hint=None if creating else "only an initiated document changes; see get_document",
    )


create_generic_document = _change(
    DocumentKind.GENERIC,
    "create",
    "Create a generic document",
    "Create a generic document (a bank statement, a utility bill) from files.",
    "adding a document to an inquiry or account.",
    CreateGenericDocument,
)
update_generic_document = _change(
    DocumentKind.GENERIC,
    "update",
    "Update a generic document",
    "Change a generic document that is still initiated.",
    "its kind, files or fields must change before submitting.",
    UpdateGenericDocument,
)
create_government_id_document = _change(
    DocumentKind.GOVERNMENT_ID,
    "create",
    "Create a government id document",
    "Create a government id document from its images.",
    "adding an id document to an inquiry.",
    CreateGovernmentId,
)
update_government_id_document = _change(
    DocumentKind.GOVERNMENT_ID,
    "update",
    "Update a government id document",
    "Change a government id document that is still initiated.",
    "its images or id class must change before submitting.",
    UpdateGovernmentId,
)

submit_document = DOCUMENTS.write(
    "submit_document",
    "Submit a document",
    describe("Submit an initiated document for processing." + _WITHDRAWN, use_when="its files are complete."),
    input_model=KindRef,
    at="POST",
    path="",
    by="kind",
    routes={kind: f"{typed}/{{document_id}}/submit" for kind, typed in _TYPED.items()},
    ops=_ops("submit"),
    conflict_hint="a document is submitted once; read its status with get_document",
)

TOOLS: tuple[ToolSpec[Any, Any], ...] = DOCUMENTS.declared()
