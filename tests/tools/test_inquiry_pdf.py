"""print_inquiry_pdf: the unmasked PDF is saved for this server's user only, once, and says what it holds."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import httpx2
import pytest

from persona_mcp.persona.client import PersonaClient, RetryPolicy
from persona_mcp.persona.credentials import ApiKeyCredential
from persona_mcp.tools import catalogue
from persona_mcp.tools.inquiries import InquiryPdf, InquiryRef, print_pdf
from persona_mcp.tools.saved_files import FILE_URI_PREFIX, SavedFiles, file_id_of, saved_files_dir
from persona_mcp.tools.spec import ToolContext

from .conftest import OWNER, Upstream

pytestmark = pytest.mark.anyio

INQUIRY = "inq_Abc123"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def _print(tmp_path: Path, content_type: str) -> InquiryPdf:
    """print_pdf against an upstream that answers with this content type."""
    transport = httpx2.MockTransport(
        lambda _request: httpx2.Response(200, content=b"<html>", headers={"content-type": content_type})
    )
    persona = PersonaClient(
        base_url="http://persona/api/v1",
        credentials=ApiKeyCredential("persona_sandbox_test"),
        transport=transport,
        retry=RetryPolicy(max_retries=0),
    )
    async with persona:
        ctx = ToolContext(persona=persona, idempotency_key=None, data_dir=tmp_path)
        ctx.files = SavedFiles(saved_files_dir(tmp_path), 3600).bound(OWNER, "print_inquiry_pdf")
        return await print_pdf(ctx, InquiryRef(inquiry_id=INQUIRY))


async def test_pdf_is_readable_by_the_server_user_only_and_saved_once_per_content(upstream: Upstream) -> None:
    inquiry = (await upstream.call("list_inquiries", page_size=1)).items[0].id
    directory = saved_files_dir(upstream.data_dir)
    directory.mkdir(mode=0o755)  # a directory left too open is tightened
    first = await upstream.call("print_inquiry_pdf", inquiry_id=inquiry)
    entries = sorted(directory.iterdir())
    second = await upstream.call("print_inquiry_pdf", inquiry_id=inquiry)
    assert isinstance(first, InquiryPdf) and isinstance(second, InquiryPdf)
    assert first.uri == second.uri and first.uri.startswith(FILE_URI_PREFIX)
    assert sorted(directory.iterdir()) == entries and len(entries) == 2
    assert all(_mode(entry) == 0o600 for entry in entries)
    assert _mode(directory) == 0o700
    assert not any(inquiry in entry.name for entry in entries), "file names carry no inquiry id"


async def test_the_saved_bytes_are_the_pdf_the_result_describes(upstream: Upstream) -> None:
    inquiry = (await upstream.call("list_inquiries", page_size=1)).items[0].id
    result = await upstream.call("print_inquiry_pdf", inquiry_id=inquiry)
    assert isinstance(result, InquiryPdf)
    file_id = file_id_of(result.uri)
    assert file_id is not None
    saved = upstream.files.find(file_id)
    assert saved is not None and saved.owner == OWNER and saved.object_id == inquiry
    content = upstream.files.read(saved)
    assert content is not None and content.startswith(b"%PDF")
    assert (len(content), hashlib.sha256(content).hexdigest()) == (result.size, result.sha256)
    assert result.name == f"{inquiry}.pdf" and result.mime_type == "application/pdf"


@pytest.mark.parametrize("content_type", ["text/html", "application/pdf-but-not; x=1", "application/pdfx"])
async def test_content_type_other_than_pdf_is_reported_as_octet_stream(
    tmp_path: Path, content_type: str
) -> None:
    assert (await _print(tmp_path, content_type)).mime_type == "application/octet-stream"


async def test_pdf_content_type_is_reported_as_pdf(tmp_path: Path) -> None:
    assert (await _print(tmp_path, "application/pdf")).mime_type == "application/pdf"


def test_description_and_result_say_the_pdf_holds_personal_data() -> None:
    spec = catalogue.get("print_inquiry_pdf")
    assert "personal data" in spec.description
    assert "path" not in InquiryPdf.model_fields
    assert "personal data" in (InquiryPdf.__doc__ or "")
