"""Personal data and uploads in the second-tier families, through the MCP client and the whole pipeline.

Document images and transaction photos come back as signed links that open them without an API key:
they are masked like any personal data without `pii:read`, shown with it, and never written to the
operational log. Uploaded CSVs and images arrive as base64 or as an MCP embedded resource, are refused
before anything is sent when they exceed Persona's 10 MB upload limit or lack the columns Persona reads,
and reach the audit log only as a digest.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from persona_mcp.audit.query import AuditFilter, iter_records
from persona_mcp.auth.scopes import Scope
from persona_mcp.pii import MASK
from persona_mcp.sandbox.seed import DEMO_IDS
from persona_mcp.testing import Harness, connected
from persona_mcp.tools.uploads import MAX_UPLOAD_BYTES

pytestmark = pytest.mark.anyio

READERS = [Scope.DOCUMENTS_READ, Scope.TRANSACTIONS_READ]
IMPORTER = [Scope.IMPORTERS_WRITE, Scope.LISTS_READ]


def _b64(content: bytes) -> str:
    return base64.b64encode(content).decode()


def _wire(result: Any) -> str:
    return str(result.model_dump_json(by_alias=True))


def _email_list(h: Harness) -> str:
    return next(r.id for r in h.sandbox.records.values() if r.type == "list/email-address")


def _items_of(h: Harness, list_id: str) -> int:
    return len(h.sandbox.records[list_id].internal.get("item-ids", []))


async def test_document_image_links_are_masked_without_pii_read(tmp_path: Path) -> None:
    async with connected(tmp_path, READERS) as h:
        result = await h.client.call_tool("get_document", {"document_id": DEMO_IDS["government-id"]})
        assert not result.is_error
        content = result.structured_content
        assert content is not None
        assert content["front_photo"] == {"filename": MASK, "url": MASK, "byte_size": 298279}
        assert content["name_first"] == MASK
        assert content["status"] == "processed"  # what is not personal stays readable
        transaction = await h.client.call_tool("get_transaction", {"transaction_id": DEMO_IDS["transaction"]})
        for wire in (_wire(result), _wire(transaction)):
            assert "files.withpersona.com" not in wire and "access_token" not in wire


async def test_document_image_links_are_shown_with_pii_read_and_never_logged(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    async with connected(tmp_path, [*READERS, Scope.PII_READ]) as h:
        result = await h.client.call_tool("get_document", {"document_id": DEMO_IDS["government-id"]})
        transaction = await h.client.call_tool("get_transaction", {"transaction_id": DEMO_IDS["transaction"]})
    content = result.structured_content
    assert content is not None
    link = content["front_photo"]["url"]
    assert link.startswith("https://files.withpersona.com/") and "access_token=" in link
    assert "access_token=" in _wire(transaction)
    logged = "".join(capfd.readouterr())
    assert "access_token" not in logged and "files.withpersona.com" not in logged


async def test_a_csv_as_an_embedded_text_resource_imports_its_rows(tmp_path: Path) -> None:
    async with connected(tmp_path, IMPORTER) as h:
        list_id = _email_list(h)
        before = _items_of(h, list_id)
        csv = "value,match_type\nnew@example.org,email_address\nexample.org,domain\n"
        resource = {"uri": "file:///blocked.csv", "mimeType": "text/csv", "text": csv}
        result = await h.client.call_tool(
            "import_list_items",
            {
                "type": "email-address",
                "list_id": list_id,
                "csv": {"filename": "blocked.csv", "resource": {"type": "resource", "resource": resource}},
            },
        )
        assert not result.is_error, result.content
        assert result.structured_content is not None
        assert result.structured_content["successful_count"] == 2
        assert _items_of(h, list_id) == before + 2


async def test_a_csv_over_personas_upload_limit_is_refused_naming_the_field_before_anything_is_sent(
    tmp_path: Path,
) -> None:
    oversized = b"value\n" + b"a@example.org\n" * (MAX_UPLOAD_BYTES // 14 + 1)
    assert len(oversized) > MAX_UPLOAD_BYTES
    async with connected(tmp_path, IMPORTER) as h:
        importers = h.sandbox.created_count("importer")
        result = await h.client.call_tool(
            "import_list_items",
            {
                "type": "email-address",
                "list_id": _email_list(h),
                "csv": {"filename": "big.csv", "base64": _b64(oversized)},
            },
        )
        assert result.is_error
        message = " ".join(getattr(block, "text", "") for block in result.content)
        assert "csv.base64: string should have at most 13333336 characters" in message, message
        assert "a@example.org" not in message
        assert h.sandbox.created_count("importer") == importers


async def test_an_embedded_text_over_the_limit_says_personas_limit_in_bytes(tmp_path: Path) -> None:
    text = "value\n" + "é" * (MAX_UPLOAD_BYTES // 2 + 1)  # fewer characters than bytes
    async with connected(tmp_path, IMPORTER) as h:
        resource = {"type": "resource", "resource": {"uri": "file:///x.csv", "text": text}}
        result = await h.client.call_tool(
            "import_list_items",
            {
                "type": "email-address",
                "list_id": _email_list(h),
                "csv": {"filename": "x.csv", "resource": resource},
            },
        )
        message = " ".join(getattr(block, "text", "") for block in result.content)
        assert result.is_error and f"at most {MAX_UPLOAD_BYTES} bytes" in message, message
        assert "csv.resource.resource.text" in message


async def test_a_csv_without_the_columns_of_its_type_is_refused_naming_them(tmp_path: Path) -> None:
    async with connected(tmp_path, IMPORTER) as h:
        importers = h.sandbox.created_count("importer")
        result = await h.client.call_tool(
            "import_list_items",
            {
                "type": "name",
                "list_id": _email_list(h),
                "csv": {"filename": "n.csv", "base64": _b64(b"first,last\nJane,Doe\n")},
            },
        )
        message = " ".join(getattr(block, "text", "") for block in result.content)
        assert result.is_error and "name_first, name_last" in message, message
        assert "Jane" not in message
        assert h.sandbox.created_count("importer") == importers


async def test_the_audit_log_keeps_a_digest_of_an_uploaded_csv_never_its_rows(tmp_path: Path) -> None:
    async with connected(tmp_path, IMPORTER) as h:
        csv = b"value\nsecret-person@example.org\n"
        result = await h.client.call_tool(
            "import_list_items",
            {
                "type": "email-address",
                "list_id": _email_list(h),
                "csv": {"filename": "x.csv", "base64": _b64(csv)},
            },
        )
        assert not result.is_error
        records = [r async for r in iter_records(h.app.store, AuditFilter())]
    stored = json.dumps([r.model_dump(mode="json") for r in records])
    assert "import_list_items" in stored
    assert _b64(csv) not in stored and "secret-person" not in stored
