"""Importers: bulk imports of accounts and list items from a CSV file, and of face images.

Covers the 10 `importers.*` operations. The six list-item imports differ only by the list's type, so
they are one tool with a `type`, like `create_list`. The CSV (or image) arrives as base64 or as an MCP
embedded resource (`tools/uploads.py`), is capped at Persona's upload limit, and its header is checked
against the columns Persona reads for that type before anything is sent. An import runs in the
background: poll `get_importer` until its status is ready or errored.
"""

from __future__ import annotations

import csv
import io
from enum import StrEnum
from typing import Any, Self

from pydantic import Field, model_validator

from persona_mcp.auth.scopes import Scope
from persona_mcp.persona.ids import ImporterId, ListId, ObjectKind
from persona_mcp.tools.bodies import attributes_body
from persona_mcp.tools.describe import describe
from persona_mcp.tools.factories import get_tool, list_tool, one_result
from persona_mcp.tools.inputs import PageInput, ToolInput
from persona_mcp.tools.results import ObjectView, Page, Response
from persona_mcp.tools.spec import Activity, Effect, ToolContext, ToolSpec
from persona_mcp.tools.uploads import Upload

TOOLSET = "importers"


class ListImportType(StrEnum):
    EMAIL_ADDRESS = "email-address"
    GEOLOCATION = "geolocation"
    GOVERNMENT_ID_NUMBER = "government-id-number"
    IP_ADDRESS = "ip-address"
    NAME = "name"
    PHONE_NUMBER = "phone-number"


#: type -> (path segment, catalogue operation, required CSV columns, optional columns) from Persona's docs.
_LIST_IMPORTS: dict[ListImportType, tuple[str, str, tuple[str, ...], tuple[str, ...]]] = {
    ListImportType.EMAIL_ADDRESS: (
        "email-addresses",
        "importers.import_email_addresses",
        ("value",),
        ("match_type",),
    ),
    ListImportType.GEOLOCATION: (
        "geolocations",
        "importers.import_geolocations",
        ("latitude", "longitude"),
        ("radius_meters",),
    ),
    ListImportType.GOVERNMENT_ID_NUMBER: (
        "government-id-numbers",
        "importers.import_government_id_numbers",
        ("id_number", "id_class"),
        (),
    ),
    ListImportType.IP_ADDRESS: ("ip-addresses", "importers.import_ip_addresses", ("value",), ()),
    ListImportType.NAME: ("names", "importers.import_names", ("name_first", "name_last"), ()),
    ListImportType.PHONE_NUMBER: ("phone-numbers", "importers.import_phone_numbers", ("value",), ()),
}
_ACCOUNT_COLUMNS = (
    "reference_id",
    "name_first",
    "name_middle",
    "name_last",
    "birthdate",
    "social_security_number",
    "tags",
)
MAX_FACE_IMAGES = 50  # Persona's suggestion for one call (catalogue: "max 50 images of ~500KB")


def csv_header(upload: Upload) -> list[str]:
    """The CSV's header row, or a ValueError in words (the content itself is never repeated)."""
    try:
        text = upload.content().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("csv: the file is not UTF-8 text") from None
    header = next(csv.reader(io.StringIO(text)), [])
    return [column.strip() for column in header]


def _check_columns(upload: Upload, required: tuple[str, ...], optional: tuple[str, ...]) -> None:
    header = csv_header(upload)
    missing = [column for column in required if column not in header]
    unknown = [column for column in header if column not in (*required, *optional)]
    if missing or unknown:
        expected = ", ".join(required) + (f" (optional: {', '.join(optional)})" if optional else "")
        raise ValueError(f"csv: the header row must name the columns {expected}")


# -- models ------------------------------------------------------------------------------------------------


class Importer(ObjectView):
    """A bulk import and its counts (type importer/account or importer/list-item/<type>)."""

    status: str | None = Field(None, description="pending, ready or errored.")
    successful_count: int | None = Field(None, description="Rows imported.")
    error_count: int | None = Field(None, description="Rows refused.")
    duplicate_count: int | None = Field(None, description="Rows already present.")
    created_at: str | None = Field(None, description="ISO 8601.")
    completed_at: str | None = Field(None, description="ISO 8601.")


class ImporterResult(Importer, Response):
    """One import."""


class ImporterPage(Page):
    items: list[Importer] = Field(description="Imports, newest first.")


class ImporterRef(ToolInput):
    importer_id: ImporterId = Field(description="The import.")


class ImportListItems(ToolInput):
    type: ListImportType = Field(description="The list's type.")
    list_id: ListId = Field(description="A list of that type.")
    csv: Upload = Field(description="CSV with a header row of Persona's columns for the type.")

    @model_validator(mode="after")
    def _has_the_columns(self) -> Self:
        _, _, required, optional = _LIST_IMPORTS[self.type]
        _check_columns(self.csv, required, optional)
        return self


class ImportAccounts(ToolInput):
    csv: Upload = Field(description="CSV, header from: " + ", ".join(_ACCOUNT_COLUMNS) + ".")

    @model_validator(mode="after")
    def _has_the_columns(self) -> Self:
        _check_columns(self.csv, (), _ACCOUNT_COLUMNS)
        return self


class ImportFaces(ToolInput):
    list_id: ListId = Field(description="A face list.")
    images: list[Upload] = Field(min_length=1, max_length=MAX_FACE_IMAGES, description="Face images.")


# -- handlers ----------------------------------------------------------------------------------------------


async def _post(ctx: ToolContext, path: str, attributes: dict[str, Any]) -> ImporterResult:
    response = await ctx.persona.post(
        path, json=attributes_body(attributes), idempotency_key=ctx.idempotency_key
    )
    return one_result(ctx, ImporterResult, response)


async def _import_list_items(ctx: ToolContext, args: ImportListItems) -> ImporterResult:
    segment = _LIST_IMPORTS[args.type][0]
    attributes = {"list-id": args.list_id, "file": args.csv.persona_file()}
    return await _post(ctx, f"/importer/list-item/{segment}", attributes)


async def _import_accounts(ctx: ToolContext, args: ImportAccounts) -> ImporterResult:
    return await _post(ctx, "/importer/accounts", {"file": args.csv.persona_file()})


async def _import_faces(ctx: ToolContext, args: ImportFaces) -> ImporterResult:
    attributes = {"list-id": args.list_id, "image-files": [image.persona_file() for image in args.images]}
    return await _post(ctx, "/importer/list-item/faces", attributes)


# -- specs ---------------------------------------------------------------------------------------------------

_POLL = "poll get_importer for the counts."

list_importers = list_tool(
    name="list_importers",
    toolset=TOOLSET,
    title="List imports",
    description=describe("List bulk imports, newest first.", use_when="checking past imports."),
    scope=Scope.IMPORTERS_READ,
    operation="importers.list",
    input_model=PageInput,
    page=ImporterPage,
    view=Importer,
    path="/importers",
    finds=ObjectKind.IMPORTER,
)

get_importer = get_tool(
    name="get_importer",
    toolset=TOOLSET,
    title="Get an import",
    description=describe(
        "Read one import: status and row counts.",
        use_when="an import may have finished.",
        ids="list_importers.",
    ),
    scope=Scope.IMPORTERS_READ,
    operation="importers.retrieve",
    input_model=ImporterRef,
    result=ImporterResult,
    path="/importers/{importer_id}",
)


def _import_tool(
    name: str,
    title: str,
    summary: str,
    use_when: str,
    model: type[ToolInput],
    operations: tuple[str, ...],
    handler: Any,
) -> ToolSpec[Any, Any]:
    return ToolSpec(
        name=name,
        toolset=TOOLSET,
        title=title,
        description=describe(summary, use_when=use_when, ids="list_lists.", avoid=f"to wait: {_POLL}"),
        scope=Scope.IMPORTERS_WRITE,
        effect=Effect.WRITE,
        activity=Activity.CREATE,
        input_model=model,
        output_model=ImporterResult,
        operations=operations,
        handler=handler,
    )


import_list_items = _import_tool(
    "import_list_items",
    "Import list items from CSV",
    "Add many values to a list from a CSV (base64 or an embedded resource, up to 10 MB).",
    "a block list needs many values at once.",
    ImportListItems,
    tuple(operation for _, operation, _, _ in _LIST_IMPORTS.values()),
    _import_list_items,
)

import_accounts = _import_tool(
    "import_accounts",
    "Import accounts from CSV",
    "Create or update many accounts from a CSV (base64 or an embedded resource, up to 10 MB).",
    "onboarding an existing user base.",
    ImportAccounts,
    ("importers.import_accounts",),
    _import_accounts,
)

import_faces = _import_tool(
    "import_faces",
    "Import faces into a face list",
    "Add face images to a face list (up to 50 per call). Hidden endpoint: may be refused.",
    "known faces must be matched against selfies.",
    ImportFaces,
    ("importers.import_faces",),
    _import_faces,
)

TOOLS = (list_importers, get_importer, import_list_items, import_accounts, import_faces)
