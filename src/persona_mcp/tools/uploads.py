"""Files an agent hands to a tool (CSV imports, document images): base64 text or an MCP embedded resource.

An MCP client holding a file as a resource passes it on unchanged, as the embedded-resource content the
protocol defines (`{"type": "resource", "resource": {"uri", "mimeType", "text" | "blob"}}`); any other
client sends the bytes as base64. Either way the size is checked against Persona's own upload limit
before anything is sent, and the bytes are personal data (digested in the audit log, never logged).

The limit: Persona's documented default for an uploaded file is 10,000,000 bytes (`max-file-size-bytes`,
API changelog of 2025-06-16, "The default is 10,000,000 bytes (10MB)"); the import endpoints publish no
other figure, so that is the cap here.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator

from persona_mcp.pii import PII
from persona_mcp.tools.input_rules import ExactlyOne
from persona_mcp.tools.inputs import ToolInput

MAX_UPLOAD_BYTES = 10_000_000
_MAX_BASE64 = 4 * math.ceil(MAX_UPLOAD_BYTES / 3)
FILENAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._()-]{0,127}$"
#: Canonical base64 (padded, no whitespace), so the schema admits exactly what decodes.
BASE64_PATTERN = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
Base64 = Annotated[str, Field(min_length=4, max_length=_MAX_BASE64, pattern=BASE64_PATTERN)]


def decode_base64(value: str) -> bytes:
    """Strict base64, or a ValueError that does not echo the value."""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("is not valid base64") from None


def _within_limit(size: int) -> None:
    if size > MAX_UPLOAD_BYTES:
        raise ValueError(f"is {size} bytes; Persona takes files of at most {MAX_UPLOAD_BYTES} bytes")
    if size == 0:
        raise ValueError("is empty")


class ResourceContents(ToolInput):
    """MCP resource contents: text (a CSV as is) or blob (base64)."""

    model_config = ConfigDict(populate_by_name=True)

    uri: str = Field(min_length=1, max_length=2048, description="Resource URI.")
    mime_type: str | None = Field(None, alias="mimeType", max_length=255, description="MIME type.")
    text: Annotated[str | None, PII] = Field(
        None, min_length=1, max_length=MAX_UPLOAD_BYTES, description="Text content."
    )
    blob: Annotated[Base64 | None, PII] = Field(None, description="Base64 content.")

    rules = (ExactlyOne("text", "blob"),)

    @field_validator("blob")
    @classmethod
    def _blob_is_base64(cls, value: str | None) -> str | None:
        if value is not None:
            _within_limit(len(decode_base64(value)))
        return value

    @field_validator("text")
    @classmethod
    def _text_fits(cls, value: str | None) -> str | None:
        if value is not None:
            _within_limit(len(value.encode()))
        return value

    def content(self) -> bytes:
        return self.text.encode() if self.text is not None else decode_base64(self.blob or "")


class EmbeddedFile(ToolInput):
    """An MCP embedded resource, as a client received or read it."""

    type: Literal["resource"] = Field(description="Always resource.")
    resource: ResourceContents = Field(description="The file.")


class Upload(ToolInput):
    """One file: exactly one of `base64` or `resource`."""

    filename: Annotated[str, Field(pattern=FILENAME_PATTERN)] = Field(description="File name.")
    base64: Annotated[Base64 | None, PII] = Field(None, description="Content, base64 (file up to 10 MB).")
    resource: EmbeddedFile | None = Field(None, description="Or an MCP embedded resource.")

    rules = (ExactlyOne("base64", "resource"),)

    @field_validator("base64")
    @classmethod
    def _is_base64(cls, value: str | None) -> str | None:
        if value is not None:
            _within_limit(len(decode_base64(value)))
        return value

    def content(self) -> bytes:
        if self.resource is not None:
            return self.resource.resource.content()
        return decode_base64(self.base64 or "")

    def persona_file(self) -> dict[str, str]:
        """Persona's JSON upload shape: `{"data": <base64>, "filename": ...}`."""
        return {"data": base64.b64encode(self.content()).decode(), "filename": self.filename}
