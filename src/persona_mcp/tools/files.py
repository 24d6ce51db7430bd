"""Print-outs (`GET .../print`) saved as MCP resources of the calling grant: one handler for every family
whose objects Persona prints (reports, verifications), the same way the inquiry PDF is served."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from persona_mcp.tools.factories import path_for
from persona_mcp.tools.results import Response
from persona_mcp.tools.saved_files import SavedFileResult
from persona_mcp.tools.spec import ToolContext

_PDF = "application/pdf"
PdfT = TypeVar("PdfT", bound=SavedFileResult)


class PdfResult(SavedFileResult, Response):
    """The PDF as an MCP resource: unmasked personal data, readable by the calling grant only."""


def pdf_handler(
    template: str, id_field: str, result: type[PdfT]
) -> Callable[[ToolContext, Any], Awaitable[PdfT]]:
    """Fetch the PDF, save it content-addressed for the caller's grant, return the resource link."""

    async def handler(ctx: ToolContext, args: Any) -> PdfT:
        if ctx.files is None:
            raise RuntimeError("printing needs the server's file store")
        object_id: str = getattr(args, id_field)
        response = await ctx.persona.get_file(path_for(template, args))
        ctx.touch(object_id)
        media_type = response.content_type.split(";")[0].strip().lower()
        saved = await ctx.files.save(
            response.content,
            name=f"{object_id}.pdf",
            # Only our own constant is reported: Persona's header text never passes through.
            mime_type=_PDF if media_type == _PDF else "application/octet-stream",
            object_id=object_id,
        )
        return result.of(saved, request_id=response.request_id)

    return handler
