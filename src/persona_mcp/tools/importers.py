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

from persona_mcp.persona.ids import ListId, ObjectKind
from persona_mcp.tools.bodies import attributes_body
from persona_mcp.tools.describe import checked
from persona_mcp.tools.family import Family
from persona_mcp.tools.inputs import PageInput, ToolInput
from persona_mcp.tools.results import Instant, ObjectView, Response
from persona_mcp.tools.spec import Activity, ToolSpec
from persona_mcp.tools.uploads import Upload

TOOLSET = "importers"


class ListImportType(StrEnum):
    EMAIL_ADDRESS = "email-address"
    GEOLOCATION = "geolocation"
    GOVERNMENT_ID_NUMBER = "government-id-number"
    IP_ADDRESS = "ip-address"
    NAME = "name"
    PHONE_NUMBER = "phone-number"


#: type -> (path segment, required CSV columns, optional columns) from Persona's docs; the catalogue
#: operation is `importers.import_<segment>` (`import_email_addresses`).
_LIST_IMPORTS: dict[ListImportType, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    ListImportType.EMAIL_ADDRESS: ("email-addresses", ("value",), ("match_type",)),
    ListImportType.GEOLOCATION: ("geolocations", ("latitude", "longitude"), ("radius_meters",)),
    ListImportType.GOVERNMENT_ID_NUMBER: ("government-id-numbers", ("id_number", "id_class"), ()),
    ListImportType.IP_ADDRESS: ("ip-addresses", ("value",), ()),
    ListImportType.NAME: ("names", ("name_first", "name_last"), ()),
    ListImportType.PHONE_NUMBER: ("phone-numbers", ("value",), ()),
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
    created_at: Instant = None
    completed_at: Instant = None


class ImporterResult(Importer, Response):
    """One import."""


class ImportListItems(ToolInput):
    type: ListImportType = Field(description="The list's type.")
    list_id: ListId = Field(description="A list of that type.")
    csv: Upload = Field(description="CSV with a header row of Persona's columns for the type.")

    @model_validator(mode="after")
    def _has_the_columns(self) -> Self:
        _, required, optional = _LIST_IMPORTS[self.type]
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


# -- specs ---------------------------------------------------------------------------------------------------

IMPORTERS = Family(toolset="importers", kind=ObjectKind.IMPORTER, changed=ImporterResult, label="import")

list_importers = IMPORTERS.list(
    """List bulk imports, newest first.
    Use this when checking past imports.""",
    input_model=PageInput,
    view=Importer,
)

get_importer = IMPORTERS.get(
    """Read one import: status and row counts.
    Use this when an import may have finished.""",
    result=ImporterResult,
)


def _import(name: str, title: str, description: str, **request: Any) -> ToolSpec[Any, Any]:
    """An import: it creates an importer that runs in the background, so each says how to wait."""
    return IMPORTERS.write(
        name,
        title,
        f"{checked(description)}\nIDs: list_lists.\nDo not use it to wait: poll get_importer for the counts.",
        activity=Activity.CREATE,
        at="POST",
        **request,
    )


import_list_items = _import(
    "import_list_items",
    "Import list items from CSV",
    """Add many values to a list from a CSV (base64 or an embedded resource, up to 10 MB).
    Use this when a block list needs many values at once.""",
    input_model=ImportListItems,
    path="/importer/list-item",
    by="type",
    routes={kind: f"/{segment}" for kind, (segment, _, _) in _LIST_IMPORTS.items()},
    ops=tuple(f"import_{segment.replace('-', '_')}" for segment, _, _ in _LIST_IMPORTS.values()),
    body=lambda a: attributes_body({"list-id": a.list_id, "file": a.csv.persona_file()}),
)

import_accounts = _import(
    "import_accounts",
    "Import accounts from CSV",
    """Create or update many accounts from a CSV (base64 or an embedded resource, up to 10 MB).
    Use this when onboarding an existing user base.""",
    input_model=ImportAccounts,
    path="/importer/accounts",
    op="import_accounts",
    body=lambda a: attributes_body({"file": a.csv.persona_file()}),
)

import_faces = _import(
    "import_faces",
    "Import faces into a face list",
    """Add face images to a face list (up to 50 per call). Hidden endpoint: may be refused.
    Use this when known faces must be matched against selfies.""",
    input_model=ImportFaces,
    path="/importer/list-item/faces",
    op="import_faces",
    body=lambda a: attributes_body(
        {"list-id": a.list_id, "image-files": [image.persona_file() for image in a.images]}
    ),
)

TOOLS: tuple[ToolSpec[Any, Any], ...] = IMPORTERS.declared()
