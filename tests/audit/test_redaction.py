"""Personal values and secrets never reach the audit database or its exports; digests still find them."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel
from sqlalchemy import text

from persona_mcp.audit import AuditEvent, AuditLog, PiiDigester
from persona_mcp.audit.export import ExportFormat, render_lines
from persona_mcp.audit.query import AuditFilter, iter_records, query_records
from persona_mcp.audit.redaction import DIGEST_PREFIX
from persona_mcp.persona.ids import AccountId
from persona_mcp.pii import FIXED_PATTERN, PII
from persona_mcp.store import Store

pytestmark = pytest.mark.anyio

EMAIL = "Jane.Doe@Example.com"
PHONE = "+1 (415) 555-0100"
NAME = "Janesecretname"
STREET = "742 Evergreen Terrace"
SECRET = "persona_sandbox_9f8e7d6c5b4a"
FREE_FORM = "Birthplace-Springfield"
TAG = "jsmith-1987-premium"


class Address(BaseModel):
    street: Annotated[str | None, PII] = None
    country_code: Annotated[str | None, FIXED_PATTERN] = None
    note: str | None = None


class CreateAccountInput(BaseModel):
    account_id: AccountId | None = None
    reference_id: str | None = None
    status: Literal["active", "closed"] | None = None
    email_address: Annotated[str | None, PII] = None
    phone_number: Annotated[str | None, PII] = None
    name_first: Annotated[str | None, PII] = None
    tags: list[str] | None = None
    page_size: int | None = None
    address: Address | None = None
    fields: Annotated[dict[str, Any] | None, PII] = None


ARGUMENTS: dict[str, Any] = {
    "account_id": "act_Kept0001",
    "reference_id": TAG,
    "status": "active",
    "email_address": EMAIL,
    "phone_number": PHONE,
    "name_first": NAME,
    "tags": ["vip", TAG],
    "page_size": 25,
    "address": {"street": STREET, "country_code": "US", "note": "Apt 4B hidden", "unexpected": "Apt 4B"},
    "fields": {"birthplace": FREE_FORM},
    "api_key": SECRET,
}

CLEAR_TEXT = (EMAIL, EMAIL.lower(), "4155550100", "555-0100", NAME, STREET, SECRET, FREE_FORM, "Apt 4B", TAG)


def test_only_values_declared_safe_stay_readable_and_every_other_string_becomes_a_keyed_digest() -> None:
    digester = PiiDigester(b"k" * 32)
    redacted = digester.redact_arguments(CreateAccountInput, ARGUMENTS)

    assert redacted["account_id"] == "act_Kept0001", "an object id is safe by its type"
    assert redacted["status"] == "active", "a Literal is safe by its type"
    assert redacted["address"]["country_code"] == "US", "a fixed pattern declared safe"
    assert redacted["page_size"] == 25, "numbers in undeclared fields are kept"
    assert redacted["email_address"] == digester.digest_email("  jane.doe@EXAMPLE.com ")
    assert redacted["phone_number"] == digester.digest_phone("+14155550100")
    assert redacted["reference_id"] == digester.digest(TAG), "free text is digested, whatever its name"
    assert redacted["tags"] == [digester.digest("vip"), digester.digest(TAG)]
    assert redacted["address"]["note"] == digester.digest("Apt 4B hidden")
    for value in (
        redacted["name_first"],
        redacted["address"]["street"],
        redacted[digester.digest("api_key")],
    ):
        assert value.startswith(DIGEST_PREFIX)
    assert redacted["address"][digester.digest("unexpected")].startswith(DIGEST_PREFIX)
    assert redacted["fields"] == {digester.digest("birthplace"): digester.digest(FREE_FORM)}, (
        "keys of a free-form map are digested too"
    )
    assert PiiDigester(b"x" * 32).digest_email(EMAIL) != redacted["email_address"], "the digest is keyed"


def test_arguments_that_failed_validation_keep_only_declared_names_and_the_object_ids_found_in_them() -> None:
    digester = PiiDigester(b"k" * 32)
    redacted = digester.redact_arguments(
        CreateAccountInput,
        {
            "account_id": "act_Kept0001",
            "status": "frozen",
            "address": {"street": STREET, "country_code": "not a code"},
            "limit": 5,
            "confirmed": True,
            EMAIL: "as a key",
        },
        validated=False,
        object_ids=["act_Kept0001"],
    )

    assert redacted["account_id"] == "act_Kept0001"
    assert redacted["status"] == digester.digest("frozen"), "nothing is safe when nothing was validated"
    assert redacted["address"] == {
        "street": digester.digest(STREET),
        "country_code": digester.digest("not a code"),
    }
    assert redacted[digester.digest("limit")] == digester.digest(5), "a number may be a phone or an ID number"
    assert redacted[digester.digest("confirmed")] is True
    assert redacted[digester.digest(EMAIL)] == digester.digest("as a key"), "undeclared keys are digested"


def test_without_any_model_every_key_and_value_is_digested_except_the_object_ids() -> None:
    digester = PiiDigester(b"k" * 32)
    redacted = digester.redact_arguments(
        None, {"account_id": "act_Kept0001", "email": EMAIL}, validated=False, object_ids=["act_Kept0001"]
    )

    assert redacted == {
        digester.digest("account_id"): "act_Kept0001",
        digester.digest("email"): digester.digest(EMAIL),
    }


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


class Colour(StrEnum):
    RED = "red"


class Mixed(BaseModel):
    free_or_fixed: str | Literal["all"] | None = None
    id_or_fixed: AccountId | Literal["all"] | None = None
    colour: Colour | None = None
    by_id: dict[AccountId, str] | None = None
    free_map: dict[str, int] | None = None


def test_a_union_is_as_strict_as_its_strictest_member_and_map_keys_follow_their_type() -> None:
    digester = PiiDigester(b"k" * 32)
    redacted = digester.redact_arguments(
        Mixed,
        {
            "free_or_fixed": "all",
            "id_or_fixed": "act_A1",
            "colour": "red",
            "by_id": {"act_A1": NAME},
            "free_map": {NAME: 3},
        },
    )

    assert redacted == {
        "free_or_fixed": digester.digest("all"),
        "id_or_fixed": "act_A1",
        "colour": "red",
        "by_id": {"act_A1": digester.digest(NAME)},
        "free_map": {digester.digest(NAME): 3},
    }
