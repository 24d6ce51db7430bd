"""Personal values and secrets never reach the audit database or its exports; digests still find them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel
from sqlalchemy import text

from persona_mcp.audit import AuditEvent, AuditLog, PiiDigester
from persona_mcp.audit.export import ExportFormat, render_lines
from persona_mcp.audit.query import AuditFilter, iter_records, query_records
from persona_mcp.audit.redaction import DIGEST_PREFIX
from persona_mcp.pii import PII
from persona_mcp.store import Store

pytestmark = pytest.mark.anyio

EMAIL = "Jane.Doe@Example.com"
PHONE = "+1 (415) 555-0100"
NAME = "Janesecretname"
STREET = "742 Evergreen Terrace"
SECRET = "persona_sandbox_9f8e7d6c5b4a"
FREE_FORM = "Birthplace-Springfield"


class Address(BaseModel):
    street: Annotated[str | None, PII] = None
    country_code: str | None = None


class CreateAccountInput(BaseModel):
    reference_id: str | None = None
    email_address: Annotated[str | None, PII] = None
    phone_number: Annotated[str | None, PII] = None
    name_first: Annotated[str | None, PII] = None
    address: Address | None = None
    fields: Annotated[dict[str, Any] | None, PII] = None


ARGUMENTS: dict[str, Any] = {
    "reference_id": "ref-42",
    "email_address": EMAIL,
    "phone_number": PHONE,
    "name_first": NAME,
    "address": {"street": STREET, "country_code": "US", "unexpected": "Apt 4B hidden"},
    "fields": {"birthplace": FREE_FORM},
    "api_key": SECRET,
}

CLEAR_TEXT = (EMAIL, EMAIL.lower(), "4155550100", "555-0100", NAME, STREET, SECRET, FREE_FORM, "Apt 4B")


def test_marked_and_undeclared_values_become_keyed_digests_and_the_rest_stays() -> None:
    digester = PiiDigester(b"k" * 32)
    redacted = digester.redact_arguments(CreateAccountInput, ARGUMENTS)

    assert redacted["reference_id"] == "ref-42"
    assert redacted["address"]["country_code"] == "US"
    assert redacted["email_address"] == digester.digest_email("  jane.doe@EXAMPLE.com ")
    assert redacted["phone_number"] == digester.digest_phone("+14155550100")
    for value in (redacted["name_first"], redacted["address"]["street"], redacted["api_key"]):
        assert value.startswith(DIGEST_PREFIX)
    assert redacted["address"]["unexpected"].startswith(DIGEST_PREFIX)
    assert redacted["fields"]["birthplace"].startswith(DIGEST_PREFIX)
    assert PiiDigester(b"x" * 32).digest_email(EMAIL) != redacted["email_address"], "the digest is keyed"


def test_arguments_that_failed_validation_are_digested_entirely() -> None:
    digester = PiiDigester(b"k" * 32)
    redacted = digester.redact_arguments(
        None,
        {"email": EMAIL, "nested": [{"n": NAME}], "limit": 5, "confirmed": True, EMAIL: "as a key"},
    )

    assert redacted["email"] == digester.digest(EMAIL)
    assert redacted["nested"][0]["n"].startswith(DIGEST_PREFIX)
    assert redacted["limit"] == digester.digest(5), "a number may be a phone or an ID number"
    assert redacted["confirmed"] is True
    assert EMAIL not in redacted and digester.digest(EMAIL) in redacted, (
        "keys that are not names are digested"
    )


async def test_no_clear_text_pii_or_secret_reaches_the_database_or_exports(
    store: Store, data_dir: Path, tmp_path: Path
) -> None:
    log = await AuditLog.open(store, data_dir=data_dir, instance_id="pii")
    try:
        await log.append(
            AuditEvent(
                kind="call.intent",
                call_id="c1",
                tool="create_account",
                arguments=log.redact_arguments(CreateAccountInput, ARGUMENTS),
            )
        )
        await log.append(
            AuditEvent(
                kind="call.denied",
                call_id="c2",
                decision="denied",
                reason="invalid arguments",
                arguments=log.redact_arguments(None, ARGUMENTS),
            )
        )
        found = await query_records(
            store, AuditFilter(digests=(log.digester.digest_email(" JANE.DOE@example.com"),))
        )
        assert [r.call_id for r in found] == ["c1", "c2"]
        found_by_phone = await query_records(
            store, AuditFilter(digests=(log.digester.digest_phone("+1 415 555 0100"),))
        )
        assert [r.call_id for r in found_by_phone] == ["c1", "c2"]
    finally:
        await log.aclose()

    stored = await _all_stored_bytes(store)
    exports = [
        "".join(render_lines([r async for r in iter_records(store, AuditFilter())], fmt)).encode()
        for fmt in ExportFormat
    ]
    for blob in (stored, *exports):
        for value in CLEAR_TEXT:
            assert value.encode() not in blob
            assert value.lower().encode() not in blob.lower()


async def _all_stored_bytes(store: Store) -> bytes:
    """The raw database files (SQLite) or every stored column as text (PostgreSQL)."""
    if store.is_sqlite:
        database = store.engine.url.database
        assert database is not None
        return b"".join(p.read_bytes() for p in Path(database).parent.glob(Path(database).name + "*"))
    async with store.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT r::text FROM audit_records r"))).all()
        cps = (await conn.execute(text("SELECT c::text FROM audit_checkpoints c"))).all()
    return "\n".join(row[0] for row in [*rows, *cps]).encode()


def test_the_pii_key_file_is_private_and_stable(tmp_path: Path) -> None:
    first = PiiDigester.for_data_dir(tmp_path).digest(EMAIL)
    assert PiiDigester.for_data_dir(tmp_path).digest(EMAIL) == first
    assert (tmp_path / "audit-pii.key").stat().st_mode & 0o777 == 0o600
