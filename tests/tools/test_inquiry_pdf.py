"""print_inquiry_pdf: the unmasked PDF is saved for this server's user only, and says what it holds."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx2
import pytest

from persona_mcp.persona.client import PersonaClient, RetryPolicy
from persona_mcp.persona.credentials import ApiKeyCredential
from persona_mcp.tools import catalogue
from persona_mcp.tools.inquiries import InquiryPdf, InquiryRef, print_pdf
from persona_mcp.tools.spec import ToolContext

from .conftest import Upstream

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
        return await print_pdf(ctx, InquiryRef(inquiry_id=INQUIRY))


async def test_pdf_is_readable_by_the_server_user_only_and_never_overwritten(upstream: Upstream) -> None:
    inquiry = (await upstream.call("list_inquiries", page_size=1)).items[0].id
    (upstream.data_dir / "files").mkdir(mode=0o755)  # a directory left too open is tightened
    first = await upstream.call("print_inquiry_pdf", inquiry_id=inquiry)
    second = await upstream.call("print_inquiry_pdf", inquiry_id=inquiry)
    assert first.path != second.path
    for result in (first, second):
        assert _mode(Path(result.path)) == 0o600
    assert _mode(upstream.data_dir / "files") == 0o700


@pytest.mark.parametrize("content_type", ["text/html", "application/pdf-but-not; x=1", "application/pdfx"])
async def test_content_type_other_than_pdf_is_reported_as_octet_stream(
    tmp_path: Path, content_type: str
) -> None:
    assert (await _print(tmp_path, content_type)).content_type == "application/octet-stream"


async def test_pdf_content_type_is_reported_as_pdf(tmp_path: Path) -> None:
    assert (await _print(tmp_path, "application/pdf")).content_type == "application/pdf"


def test_description_and_result_say_the_pdf_holds_personal_data() -> None:
    spec = catalogue.get("print_inquiry_pdf")
    assert "personal data" in spec.description
    assert "personal data" in (InquiryPdf.model_fields["path"].description or "")
