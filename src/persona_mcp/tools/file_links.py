"""Persona's file objects in results (document images, selfies, uploaded files), flattened and personal.

A file object carries a signed link that opens the image without an API key while it lasts: the link
and the file name are personal data, masked without `pii:read` (the size is not, and stays a number,
so a masked result still matches the output schema). `pii.mask` also masks any signed file link found
anywhere, and log lines lose every URL query, where the access token sits.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from persona_mcp.pii import PII
from persona_mcp.tools.results import ResultModel


class FileLink(ResultModel):
    """A file Persona holds."""

    filename: Annotated[str | None, PII] = Field(None, description="File name.")
    url: Annotated[str | None, PII] = Field(None, description="Signed link (expires).")
    byte_size: int | None = Field(None, description="Size in bytes.")


def file_link(value: Any) -> dict[str, Any] | None:
    """One Persona file object (`{filename, url, byte-size}`) with snake_case keys."""
    if not isinstance(value, dict):
        return None
    return {"filename": value.get("filename"), "url": value.get("url"), "byte_size": value.get("byte-size")}


def file_links(value: Any) -> list[dict[str, Any]]:
    return (
        [link for item in value if (link := file_link(item)) is not None] if isinstance(value, list) else []
    )
